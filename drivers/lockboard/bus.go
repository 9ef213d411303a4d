package lockboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/queue"
	"periph.io/x/conn/v3"
)

// Errors returned by a Bus; compare with errors.Is.
var (
	// ErrClosed means the bus was closed.
	ErrClosed = errors.New("lockboard: bus closed")
	// ErrHalted means Halt dropped a queued unlock before it was sent.
	ErrHalted = errors.New("lockboard: halted")
	// ErrBusDown means the port is not open; the unlock was not sent.
	ErrBusDown = errors.New("lockboard: bus down")
	// ErrUnconfirmed means an unlock frame went out but neither a reply nor
	// a following status poll confirmed it: the outcome is unknown. Do not
	// resend blindly; a solenoid pulse is a physical action.
	ErrUnconfirmed = errors.New("lockboard: unlock not confirmed")
	// ErrUnknownLock means the board is not configured on this bus or the
	// lock is beyond the board's configured locks.
	ErrUnknownLock = errors.New("lockboard: unknown lock")
	// ErrNoState means the board's state is unknown: the port is closed (unplugged),
	// or the board has not answered a poll since the port was opened, or failed its
	// last one.
	ErrNoState = errors.New("lockboard: state unknown")
)

// Change reports a lock whose polled state changed. The first successful
// poll of a board reports every lock with Initial set.
type Change struct {
	Board    int
	Lock     int
	LockOpen bool
	DoorOpen bool // meaningful only if HasDoor
	HasDoor  bool // the board has door sensors configured
	Initial  bool
	At       time.Time
}

// State is the last polled state of a lock.
type State struct {
	LockOpen bool
	DoorOpen bool
	HasDoor  bool
	At       time.Time // when the board last answered
}

// Health is the state of the bus as a whole. OK means the port is open and
// every board has answered on it and answered its last poll.
type Health struct {
	OK       bool
	PortOpen bool
	Reason   string // why not OK; empty when OK
	Down     []int  // boards that did not answer their last poll
	Since    time.Time
}

func (h Health) same(o Health) bool {
	return h.OK == o.OK && h.PortOpen == o.PortOpen && h.Reason == o.Reason && slices.Equal(h.Down, o.Down)
}

// Stats counts bus traffic since Open.
type Stats struct {
	Frames     uint64 // request frames written
	Replies    uint64 // replies matched to a request
	Timeouts   uint64 // attempts that got no matching reply in time
	Checksum   uint64 // frames dropped for a bad checksum
	Malformed  uint64 // start bytes dropped as not starting a valid frame
	Mismatched uint64 // valid replies for another board or lock
	Reopens    uint64 // times the port was (re)opened
}

type boardState struct {
	cfg     BoardConfig
	polled  bool
	locks   uint32 // raw lock bits
	sensors uint32 // raw sensor bits
	at      time.Time
	down    bool // failed its last poll on the current port
	// answered: it answered a poll on the current port. Until it has, and while the
	// port is closed, its state is unknown: a reopened /dev/ttyUSBn or pty may be
	// another device altogether.
	answered bool
}

func (s *boardState) lock(n int) State {
	bit := uint32(1) << (n - 1)
	st := State{
		LockOpen: s.cfg.Polarity.Open(s.locks&bit != 0),
		HasDoor:  s.cfg.DoorSensors,
		At:       s.at,
	}
	if s.cfg.DoorSensors {
		st.DoorOpen = s.cfg.SensorPolarity.Open(s.sensors&bit != 0)
	}
	return st
}

var _ conn.Resource = (*Bus)(nil)

// Bus is one serial port with lock boards on it. It is safe for concurrent
// use. Create it with Open; stop it with Close.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	reqs   chan *unlockReq
	polls  chan chan error // Refresh requests
	cancel context.CancelFunc
	done   chan struct{}
	events *queue.Queue[any] // Change and Health, in order

	mu     sync.Mutex
	boards map[int]*boardState
	order  []int // board addresses in poll order
	health Health
	stats  Stats
	// portOpen mirrors health.PortOpen; openedAt is when the port was last opened,
	// lastAnswer when any board last answered (zero: never), for health reasons.
	portOpen   bool
	openedAt   time.Time
	lastAnswer time.Time
}

// Open validates cfg and starts the bus. The port is opened in the
// background: a missing device is a health fault that the bus retries, not
// an error here.
func Open(cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg:    cfg,
		log:    cfg.Logger.With("bus", cfg.Path, "protocol", cfg.Protocol.String()),
		reqs:   make(chan *unlockReq, 64),
		polls:  make(chan chan error),
		cancel: cancel,
		done:   make(chan struct{}),
		boards: make(map[int]*boardState),
		health: Health{Reason: "port not opened yet", Since: cfg.Now()},
	}
	b.events = queue.New(b.deliver)
	for _, bc := range cfg.Boards {
		b.boards[bc.Addr] = &boardState{cfg: bc}
		b.order = append(b.order, bc.Addr)
	}
	go b.run(ctx)
	return b, nil
}

// String describes the bus, periph-style.
func (b *Bus) String() string {
	return fmt.Sprintf("lockboard(%s %s, %d boards)", b.cfg.Protocol, b.cfg.Path, len(b.order))
}

// Close stops polling, fails queued unlocks with ErrClosed, closes the port
// and waits for the bus goroutines to end.
func (b *Bus) Close() error {
	b.cancel()
	<-b.done
	b.events.Close()
	return nil
}

func (b *Bus) deliver(v any) {
	switch e := v.(type) {
	case Change:
		if b.cfg.OnChange != nil {
			b.cfg.OnChange(e)
		}
	case Health:
		if b.cfg.OnHealth != nil {
			b.cfg.OnHealth(e)
		}
	}
}

// Halt drops queued unlocks that have not been sent (they fail with
// ErrHalted), leaving the bus polling. Lock boards pulse their locks by
// themselves, so there is no output to de-energise.
func (b *Bus) Halt() error {
	for {
		select {
		case r := <-b.reqs:
			if r.cancel() {
				r.finish(ErrHalted)
			}
		default:
			return nil
		}
	}
}

// Health returns the current health of the bus.
func (b *Bus) Health() Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.health
	h.Down = slices.Clone(h.Down)
	return h
}

// Stats returns traffic counters.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// State returns the polled state of a lock while its board answers; ErrNoState while
// the port is closed or the board has not answered on it (since the port was opened,
// or at its last poll).
func (b *Bus) State(board, lock int) (State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.boards[board]
	if !ok || lock < 1 || lock > s.cfg.Locks {
		return State{}, fmt.Errorf("%w: board %d lock %d", ErrUnknownLock, board, lock)
	}
	switch {
	case !b.portOpen:
		return State{}, fmt.Errorf("%w: board %d: port %s closed", ErrNoState, board, b.cfg.Path)
	case !s.polled || !s.answered || s.down:
		return State{}, fmt.Errorf("%w: board %d not answering", ErrNoState, board)
	}
	return s.lock(lock), nil
}

// Unlock pulses one lock. It is queued behind the frame on the wire and
// served before the next status poll. A nil result means the board
// acknowledged the command (or a status poll right after it showed the lock
// open); it does not mean a door was opened: watch Change for that.
//
// If ctx ends while the command is still queued, Unlock returns ctx's error
// and nothing is sent. Once the frame is being sent, Unlock waits for the
// outcome (bounded by the reply timeouts), so a caller never mistakes a sent
// command for an unsent one. The command is never retried: on a lost reply
// the result is ErrUnconfirmed.
func (b *Bus) Unlock(ctx context.Context, board, lock int) error {
	b.mu.Lock()
	s, ok := b.boards[board]
	b.mu.Unlock()
	if !ok || lock < 1 || lock > s.cfg.Locks {
		return fmt.Errorf("%w: board %d lock %d", ErrUnknownLock, board, lock)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lockboard: unlock board %d lock %d not sent: %w", board, lock, err)
	}
	r := &unlockReq{board: board, lock: lock, result: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return fmt.Errorf("lockboard: unlock board %d lock %d not sent: %w", board, lock, ctx.Err())
	case <-b.done:
		return ErrClosed
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		if r.cancel() {
			return fmt.Errorf("lockboard: unlock board %d lock %d not sent: %w", board, lock, ctx.Err())
		}
		// Already on the wire: the loop always finishes a claimed request.
		return <-r.result
	case <-b.done:
		if r.cancel() {
			return ErrClosed
		}
		return <-r.result
	}
}

// Refresh polls every board now, between other frames, and returns when
// the cycle is done: afterwards State reflects the boards as of the call
// (for reconciling stored state at start) unless a board did not answer,
// which Health then reports. It fails with ErrBusDown while the port is
// closed.
func (b *Bus) Refresh(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case b.polls <- done:
	case <-ctx.Done():
		return fmt.Errorf("lockboard: refresh: %w", ctx.Err())
	case <-b.done:
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("lockboard: refresh: %w", ctx.Err())
	case <-b.done:
		return ErrClosed
	}
}

// Request states; a request is claimed by the loop or cancelled by its
// caller, never both.
const (
	reqQueued int32 = iota
	reqClaimed
	reqCancelled
)

type unlockReq struct {
	board, lock int
	state       atomic.Int32
	result      chan error
}

func (r *unlockReq) claim() bool  { return r.state.CompareAndSwap(reqQueued, reqClaimed) }
func (r *unlockReq) cancel() bool { return r.state.CompareAndSwap(reqQueued, reqCancelled) }

// finish delivers the result; result has room for exactly one.
func (r *unlockReq) finish(err error) {
	select {
	case r.result <- err:
	default:
	}
}
