package lockboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.bug.st/serial"
)

// maxPending caps bytes kept while looking for a reply, so a babbling
// device cannot grow the buffer.
const maxPending = 128

// link is the bus goroutine's view of an open port for one cycle.
type link struct {
	b      *Bus
	port   serial.Port
	lastIO time.Time
	buf    []byte
	tmp    [64]byte
}

// exchange sends one request frame and waits for the reply that answers it.
// sent reports whether any byte of the frame went out.
func (l *link) exchange(ctx context.Context, req Request) (rep Reply, sent bool, err error) {
	frame, err := EncodeRequest(req)
	if err != nil {
		return Reply{}, false, err
	}
	if err := l.gap(ctx); err != nil {
		return Reply{}, false, err
	}
	// Drop late replies to earlier, timed-out requests.
	if err := l.port.ResetInputBuffer(); err != nil {
		return Reply{}, false, &portError{fmt.Errorf("reset input: %w", err)}
	}
	for off := 0; off < len(frame); {
		n, err := l.port.Write(frame[off:])
		if err != nil {
			return Reply{}, off+n > 0, &portError{fmt.Errorf("write: %w", err)}
		}
		if n == 0 {
			return Reply{}, off > 0, &portError{errors.New("write: no progress")}
		}
		off += n
	}
	l.lastIO = time.Now()
	l.b.count(func(s *Stats) { s.Frames++ })
	rep, err = l.await(req)
	l.lastIO = time.Now()
	return rep, true, err
}

// gap keeps InterFrameDelay of silence since the last byte on the wire.
func (l *link) gap(ctx context.Context) error {
	d := time.Until(l.lastIO.Add(l.b.cfg.InterFrameDelay))
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *link) await(req Request) (Reply, error) {
	deadline := time.Now().Add(l.b.cfg.ReplyTimeout)
	l.buf = l.buf[:0]
	kind := req.ReplyKind()
	for {
		left := time.Until(deadline)
		if left <= 0 {
			l.b.count(func(s *Stats) { s.Timeouts++ })
			return Reply{}, errNoReply
		}
		if err := l.port.SetReadTimeout(left); err != nil {
			return Reply{}, &portError{fmt.Errorf("set timeout: %w", err)}
		}
		n, err := l.port.Read(l.tmp[:])
		if err != nil {
			return Reply{}, &portError{fmt.Errorf("read: %w", err)}
		}
		if n == 0 {
			continue // go.bug.st/serial reports a read timeout as (0, nil)
		}
		l.buf = append(l.buf, l.tmp[:n]...)
		for len(l.buf) > 0 {
			rep, used, err := DecodeReply(req.Protocol, kind, l.buf)
			l.buf = l.buf[used:]
			switch {
			case errors.Is(err, ErrIncomplete):
			case errors.Is(err, ErrChecksum):
				l.b.count(func(s *Stats) { s.Checksum++ })
				continue
			case err != nil:
				l.b.count(func(s *Stats) { s.Malformed++ })
				continue
			case req.Answers(rep):
				l.b.count(func(s *Stats) { s.Replies++ })
				return rep, nil
			default:
				l.b.count(func(s *Stats) { s.Mismatched++ })
				continue
			}
			break
		}
		if len(l.buf) > maxPending {
			l.buf = append(l.buf[:0], l.buf[len(l.buf)-maxPending:]...)
		}
	}
}
