package lockboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.bug.st/serial"

	"github.com/lockerd/lockerd/drivers/serialport"
)

// errNoReply is an attempt that got no matching reply within ReplyTimeout.
var errNoReply = errors.New("lockboard: no reply")

// errSilent is a port given up because no board answered DeadCycles cycles on it.
var errSilent = errors.New("lockboard: no board answered")

// portError marks a failure of the port itself (closed, unplugged, I/O
// error), as opposed to a silent board. It ends the port's life.
type portError struct{ err error }

func (e *portError) Error() string { return "lockboard: port: " + e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// run is the bus goroutine: it owns the port, polls, and serves unlocks.
func (b *Bus) run(ctx context.Context) {
	var port serial.Port
	defer func() {
		if port != nil {
			_ = port.Close()
		}
		close(b.done)
		b.failQueued(ErrClosed)
	}()
	backoff := b.cfg.MinBackoff
	silent := 0
	var lastIO time.Time
	for ctx.Err() == nil {
		if port == nil {
			p, err := b.openPort()
			if err != nil {
				b.log.Debug("lockboard: cannot open port", "err", err)
				b.setPort(false, b.openReason(err, b.Stats().Reopens > 0))
				if !b.idle(ctx, backoff) {
					return
				}
				backoff = min(backoff*2, b.cfg.MaxBackoff)
				continue
			}
			port = p
			lastIO = time.Now()
			b.setPort(true, "")
		}
		io := &link{b: b, port: port, lastIO: lastIO}
		answered, err := b.cycle(ctx, io)
		lastIO = io.lastIO
		if ctx.Err() != nil {
			return // closing: a cycle cut short is no bus fault
		}
		if err == nil && answered == 0 {
			silent++
			if silent >= b.cfg.DeadCycles {
				err = fmt.Errorf("%w: %d polls", errSilent, silent)
			}
		} else if answered > 0 {
			silent = 0
			backoff = b.cfg.MinBackoff
		}
		if err != nil {
			b.log.Warn("lockboard: closing port", "err", err)
			_ = port.Close()
			port = nil
			silent = 0
			if errors.Is(err, errSilent) {
				b.setPort(false, b.Health().Reason) // "no board answered on ... since ..."
			} else {
				b.setPort(false, b.lostReason(err))
			}
			if !b.idle(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, b.cfg.MaxBackoff)
			continue
		}
		if err := b.between(ctx, io); err != nil {
			if ctx.Err() != nil {
				return
			}
			lastIO = io.lastIO
			b.log.Warn("lockboard: closing port", "err", err)
			_ = port.Close()
			port = nil
			b.setPort(false, b.lostReason(err))
			continue
		}
		lastIO = io.lastIO
	}
}

func (b *Bus) openPort() (serial.Port, error) {
	p, err := serialport.Open(b.cfg.Path, &serial.Mode{
		BaudRate: b.cfg.BaudRate, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("lockboard: open %s: %w", b.cfg.Path, err)
	}
	// Drop bytes a previous owner left unread (e.g. after a crash).
	_ = p.ResetInputBuffer()
	b.mu.Lock()
	b.stats.Reopens++
	b.mu.Unlock()
	b.log.Info("lockboard: port open", "baud", b.cfg.BaudRate)
	return p, nil
}

// idle waits d while the port is closed, failing unlocks that arrive: they
// cannot be sent.
func (b *Bus) idle(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case r := <-b.reqs:
			if r.claim() {
				r.finish(fmt.Errorf("%w: board %d lock %d not sent", ErrBusDown, r.board, r.lock))
			}
		case done := <-b.polls:
			done <- fmt.Errorf("%w: port closed", ErrBusDown)
		}
	}
}

// between waits for the next poll, serving unlocks as they arrive.
func (b *Bus) between(ctx context.Context, io *link) error {
	t := time.NewTimer(b.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			return nil
		case r := <-b.reqs:
			if err := b.serveUnlock(ctx, io, r); err != nil {
				return err
			}
		case done := <-b.polls:
			_, err := b.cycle(ctx, io)
			if err != nil {
				done <- fmt.Errorf("%w: %w", ErrBusDown, err)
				return err
			}
			done <- nil
		}
	}
}

// cycle polls every board once, serving queued unlocks before each poll.
// It returns how many boards answered.
func (b *Bus) cycle(ctx context.Context, io *link) (int, error) {
	answered := 0
	for _, addr := range b.order {
		if err := b.serveQueued(ctx, io); err != nil {
			return answered, err
		}
		if ctx.Err() != nil {
			return answered, nil
		}
		ok, err := b.poll(ctx, io, addr)
		if err != nil {
			return answered, err
		}
		if ok {
			answered++
		}
	}
	return answered, nil
}

func (b *Bus) serveQueued(ctx context.Context, io *link) error {
	for {
		select {
		case r := <-b.reqs:
			if err := b.serveUnlock(ctx, io, r); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// poll queries one board, with retries unless it is already known down.
func (b *Bus) poll(ctx context.Context, io *link, addr int) (bool, error) {
	b.mu.Lock()
	attempts := 1
	if !b.boards[addr].down {
		attempts += b.cfg.Retries
	}
	b.mu.Unlock()
	req := Request{Protocol: b.cfg.Protocol, Op: OpStatus, Board: addr}
	for range attempts {
		rep, _, err := io.exchange(ctx, req)
		if err == nil {
			b.apply(addr, rep)
			return true, nil
		}
		if !errors.Is(err, errNoReply) {
			return false, err
		}
	}
	b.setBoard(addr, false)
	return false, nil
}

// serveUnlock sends one unlock frame, once. A port failure is returned so
// the loop can reopen; the request gets its own result either way.
func (b *Bus) serveUnlock(ctx context.Context, io *link, r *unlockReq) error {
	if !r.claim() {
		return nil // the caller gave up while it was queued
	}
	req := Request{Protocol: b.cfg.Protocol, Op: OpUnlock, Board: r.board, Lock: r.lock}
	rep, sent, err := io.exchange(ctx, req)
	switch {
	case err == nil:
		b.apply(r.board, rep)
		b.log.Info("lockboard: unlock acknowledged", "board", r.board, "lock", r.lock)
		r.finish(nil)
		return nil
	case !sent && ctx.Err() != nil:
		r.finish(fmt.Errorf("%w: board %d lock %d not sent", ErrClosed, r.board, r.lock))
	case !sent:
		r.finish(fmt.Errorf("%w: board %d lock %d not sent: %w", ErrBusDown, r.board, r.lock, err))
	case errors.Is(err, errNoReply):
		// Confirm by state rather than by resending the pulse.
		if ok, perr := b.poll(ctx, io, r.board); perr != nil {
			err = perr
		} else if st, _ := b.State(r.board, r.lock); ok && st.LockOpen {
			b.log.Info("lockboard: unlock confirmed by status", "board", r.board, "lock", r.lock)
			r.finish(nil)
			return nil
		}
		b.log.Warn("lockboard: unlock unconfirmed", "board", r.board, "lock", r.lock)
		r.finish(fmt.Errorf("%w: board %d lock %d", ErrUnconfirmed, r.board, r.lock))
	default:
		r.finish(fmt.Errorf("%w: board %d lock %d: %w", ErrUnconfirmed, r.board, r.lock, err))
	}
	var pe *portError
	if errors.As(err, &pe) {
		return err
	}
	return nil
}

func (b *Bus) failQueued(err error) {
	for {
		select {
		case r := <-b.reqs:
			if r.claim() {
				r.finish(err)
			}
		default:
			return
		}
	}
}
