package firmware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/locker"
)

// doorAddr is where a compartment's lock lives.
type doorAddr struct {
	bus         string
	board, lock int
}

// hardware maps compartments onto drivers. It implements locker.Unlocker and
// locker.DoorReader, and forwards driver changes to the station.
type hardware struct {
	log    *slog.Logger
	buses  map[string]*lockboard.Bus
	byID   map[locker.CompartmentID]doorAddr
	byAddr map[doorAddr]locker.CompartmentID
	sink   atomic.Pointer[func(locker.CompartmentID, bool)]
	mu     sync.Mutex
	health map[string]lockboard.Health
}

var (
	_ locker.Unlocker   = (*hardware)(nil)
	_ locker.DoorReader = (*hardware)(nil)
)

func openHardware(cfg *config.Config, log *slog.Logger) (*hardware, error) {
	h := &hardware{log: log, buses: map[string]*lockboard.Bus{}, byID: map[locker.CompartmentID]doorAddr{},
		byAddr: map[doorAddr]locker.CompartmentID{}, health: map[string]lockboard.Health{}}
	for _, c := range cfg.Compartments {
		if c.Kind == "shelf" {
			continue
		}
		a := doorAddr{bus: c.Door.Driver, board: c.Door.Board, lock: c.Door.Lock}
		h.byID[locker.CompartmentID(c.ID)] = a
		h.byAddr[a] = locker.CompartmentID(c.ID)
	}
	for _, lb := range cfg.Hardware.LockBoards {
		bc, err := busConfig(lb)
		if err != nil {
			h.Halt()
			return nil, err
		}
		name := lb.Name
		bc.Logger = log.With("driver", name)
		bc.OnChange = func(ch lockboard.Change) { h.changed(name, ch) }
		bc.OnHealth = func(hl lockboard.Health) { h.healthChanged(name, hl) }
		bus, err := lockboard.Open(bc)
		if err != nil {
			h.Halt()
			return nil, fmt.Errorf("firmware: driver %s: %w", name, err)
		}
		h.buses[name] = bus
		log.Info("driver loaded", "driver", name, "kind", "lockboard", "protocol", lb.Protocol, "port", lb.Port)
	}
	return h, nil
}

func busConfig(lb config.LockBoard) (lockboard.Config, error) {
	proto, err := lockboard.ParseProtocol(lb.Protocol)
	if err != nil {
		return lockboard.Config{}, err
	}
	bc := lockboard.Config{Path: lb.Port, Protocol: proto, BaudRate: lb.Baud, PollInterval: lb.Poll,
		ReplyTimeout: lb.ReplyTimeout, Retries: lb.Retries}
	for _, b := range lb.Boards {
		pol, err := lockboard.ParsePolarity(b.Polarity)
		if err != nil {
			return bc, err
		}
		spol, err := lockboard.ParsePolarity(b.SensorPolarity)
		if err != nil {
			return bc, err
		}
		bc.Boards = append(bc.Boards, lockboard.BoardConfig{Addr: b.Addr, Locks: b.Locks, Polarity: pol,
			DoorSensors: b.DoorSensors, SensorPolarity: spol})
	}
	return bc, nil
}

// doorOpen reads a lock's state as a door state: boards with door sensors report the
// door; boards without report the latch, which is open exactly while the door is.
func doorOpen(s lockboard.State) bool {
	if s.HasDoor {
		return s.DoorOpen
	}
	return s.LockOpen
}

func (h *hardware) changed(bus string, ch lockboard.Change) {
	id, ok := h.byAddr[doorAddr{bus: bus, board: ch.Board, lock: ch.Lock}]
	if !ok {
		return
	}
	open := ch.LockOpen
	if ch.HasDoor {
		open = ch.DoorOpen
	}
	if f := h.sink.Load(); f != nil {
		(*f)(id, open)
	}
}

func (h *hardware) healthChanged(bus string, hl lockboard.Health) {
	h.mu.Lock()
	h.health[bus] = hl
	h.mu.Unlock()
	if hl.OK {
		h.log.Info("driver healthy", "driver", bus)
	} else {
		h.log.Warn("driver fault", "driver", bus, "reason", hl.Reason, "boards_down", hl.Down)
	}
}

// setSink starts forwarding door changes to f.
func (h *hardware) setSink(f func(locker.CompartmentID, bool)) { h.sink.Store(&f) }

// Unlock implements locker.Unlocker.
func (h *hardware) Unlock(ctx context.Context, id locker.CompartmentID) error {
	a, ok := h.byID[id]
	if !ok {
		return fmt.Errorf("firmware: compartment %d has no lock", id)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return h.buses[a.bus].Unlock(ctx, a.board, a.lock)
}

// DoorOpen implements locker.DoorReader.
func (h *hardware) DoorOpen(id locker.CompartmentID) (open, known bool) {
	a, ok := h.byID[id]
	if !ok {
		return false, false
	}
	s, err := h.buses[a.bus].State(a.board, a.lock)
	if err != nil {
		return false, false
	}
	return doorOpen(s), true
}

// waitReady waits until every board has answered a poll, or until timeout: a station
// whose bus is down still starts, and reconciles those doors when they report.
func (h *hardware) waitReady(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for id := range h.byID {
			if _, known := h.DoorOpen(id); !known {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.log.Warn("starting without door states", "compartments_unknown", missing)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Halt stops the drivers; each leaves its outputs in the safe state.
func (h *hardware) Halt() error {
	var errs []error
	for name, b := range h.buses {
		if err := b.Close(); err != nil && !errors.Is(err, lockboard.ErrClosed) {
			errs = append(errs, fmt.Errorf("firmware: driver %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
