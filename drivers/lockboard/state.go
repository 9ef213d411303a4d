package lockboard

import (
	"fmt"
	"slices"
	"strings"
)

func (b *Bus) count(f func(*Stats)) {
	b.mu.Lock()
	f(&b.stats)
	b.mu.Unlock()
}

// apply records a reply's bits for a board and posts a Change for every
// lock whose state differs (every lock, on the board's first answer).
func (b *Bus) apply(addr int, rep Reply) {
	now := b.cfg.Now()
	b.mu.Lock()
	s := b.boards[addr]
	old := *s
	if rep.Kind == KindLock {
		bit := uint32(1) << (rep.Lock - 1)
		s.locks = s.locks&^bit | rep.Locks&bit
	} else {
		s.locks, s.sensors = rep.Locks, rep.Sensors
	}
	s.at = now
	b.lastAnswer = now
	if rep.Kind == KindBoard {
		s.answered = true // its whole state is known again (a lock reply has one lock's)
	}
	var changes []Change
	if rep.Kind == KindBoard || old.polled {
		first := !old.polled
		s.polled = true
		for n := 1; n <= s.cfg.Locks; n++ {
			cur := s.lock(n)
			if !first && cur.LockOpen == old.lock(n).LockOpen && cur.DoorOpen == old.lock(n).DoorOpen {
				continue
			}
			changes = append(changes, Change{
				Board: addr, Lock: n, LockOpen: cur.LockOpen, DoorOpen: cur.DoorOpen,
				HasDoor: cur.HasDoor, Initial: first, At: now,
			})
		}
	}
	b.mu.Unlock()
	for _, c := range changes {
		b.events.Post(c)
	}
	b.setBoard(addr, true)
}

// setBoard records whether a board answered and reports a health change.
func (b *Bus) setBoard(addr int, up bool) {
	b.mu.Lock()
	s := b.boards[addr]
	was := !s.down
	s.down = !up
	b.mu.Unlock()
	if was != up {
		if up {
			b.log.Info("lockboard: board answering", "board", addr)
		} else {
			b.log.Warn("lockboard: board not responding", "board", addr)
		}
	}
	b.updateHealth(true, "")
}

// setPort records the port being opened or lost. Either way no board has answered
// on the port now open, if any: their states are unknown until they do.
func (b *Bus) setPort(open bool, reason string) {
	b.mu.Lock()
	for _, s := range b.boards {
		s.answered = false
		s.down = false // a fresh port: no board has failed on it yet
	}
	b.portOpen = open
	if open {
		b.openedAt = b.cfg.Now()
	}
	b.mu.Unlock()
	b.updateHealth(open, reason)
}

func (b *Bus) updateHealth(portOpen bool, reason string) {
	b.mu.Lock()
	h := Health{PortOpen: portOpen, Since: b.health.Since}
	waiting := false // the port just opened and nothing has failed yet: no fault to log
	if portOpen {
		var pending []int
		for _, a := range b.order {
			switch s := b.boards[a]; {
			case s.down:
				h.Down = append(h.Down, a)
			case !s.answered:
				pending = append(pending, a)
			}
		}
		waiting = len(h.Down) == 0 && len(pending) > 0
		switch {
		case len(h.Down) == len(b.order):
			h.Reason = b.silentReason(b.lastAnswer, b.openedAt)
		case len(h.Down) > 0:
			h.Reason = fmt.Sprintf("board %s on %s not responding", joinInts(h.Down), b.cfg.Path)
		case len(pending) == len(b.order):
			h.Reason = fmt.Sprintf("lock board bus %s opened; no board has answered yet", b.cfg.Path)
		case len(pending) > 0:
			h.Reason = fmt.Sprintf("board %s on %s has not answered yet", joinInts(pending), b.cfg.Path)
		default:
			h.OK = true
		}
	} else {
		h.Reason = reason
		if h.Reason == "" {
			h.Reason = "port closed"
		}
	}
	if h.same(b.health) {
		b.mu.Unlock()
		return
	}
	h.Since = b.cfg.Now()
	b.health = h
	b.mu.Unlock()
	switch {
	case h.OK:
		b.log.Info("lockboard: bus healthy")
	case waiting:
		b.log.Info("lockboard: waiting for the boards", "reason", h.Reason)
	default:
		b.log.Warn("lockboard: bus fault", "reason", h.Reason)
	}
	h.Down = slices.Clone(h.Down)
	b.events.Post(h)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}
