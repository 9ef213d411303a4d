package lockboardtest

import (
	"errors"
	"time"

	"github.com/lockerd/lockerd/drivers/internal/vpty"
	"github.com/lockerd/lockerd/drivers/lockboard"
)

const maxBuffered = 256

// handle answers every complete request that the client's bytes complete.
// It runs on the device goroutine of the pty c.
func (s *Set) handle(c *vpty.Conn, data []byte) {
	s.mu.Lock()
	s.pending = append(s.pending, data...)
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			s.mu.Unlock()
			return
		}
		req, used, err := lockboard.DecodeRequest(s.cfg.Protocol, s.pending)
		s.pending = s.pending[used:]
		if errors.Is(err, lockboard.ErrIncomplete) {
			if len(s.pending) > maxBuffered {
				s.pending = append([]byte(nil), s.pending[len(s.pending)-maxBuffered:]...)
			}
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.stats.Garbage++
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		reply := s.answer(req)
		if reply == nil {
			continue
		}
		t := time.NewTimer(s.cfg.ReplyDelay)
		select {
		case <-c.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// Counted before the write, so a client that has read the reply
		// also sees it counted.
		s.mu.Lock()
		s.stats.Replies++
		s.mu.Unlock()
		if _, err := c.Write(reply); err != nil {
			s.mu.Lock()
			s.stats.Replies--
			s.mu.Unlock()
		}
	}
}

// answer applies req to the model and returns the reply bytes, or nil when
// the addressed board is absent or silent.
func (s *Set) answer(req lockboard.Request) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boards[req.Board]
	if b == nil || b.silent || s.closed {
		return nil
	}
	if req.Lock > b.spec.Locks {
		return nil
	}
	s.stats.Requests++
	rep := lockboard.Reply{Protocol: s.cfg.Protocol, Kind: lockboard.KindBoard, Board: req.Board}
	switch req.Op {
	case lockboard.OpUnlock:
		s.unlockLocked(b, req.Lock)
		if s.cfg.Protocol == lockboard.Protocol8A {
			rep.Kind, rep.Lock, rep.Echo = lockboard.KindLock, req.Lock, true
		} else {
			rep.Lock = req.Lock // CU16 echoes the lock in the address byte
		}
	case lockboard.OpStatusLock:
		rep.Kind, rep.Lock = lockboard.KindLock, req.Lock
	}
	rep.Locks, rep.Sensors = b.bits()
	out, err := lockboard.EncodeReply(rep)
	if err != nil {
		s.log.Error("lockboardtest: encode reply", "err", err)
		return nil
	}
	if s.hook != nil {
		out = s.hook(req, out)
	}
	return out
}

// SetReplyHook installs f to rewrite (or, returning nil, drop) every reply
// before it is written; nil removes it. Use it to garble, truncate or
// misaddress replies.
func (s *Set) SetReplyHook(f func(req lockboard.Request, reply []byte) []byte) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

// SetSilent makes a board stop (or resume) answering, as a board that lost
// power or its bus wiring.
func (s *Set) SetSilent(board int, silent bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boards[board]
	if b == nil {
		return ErrUnknownLock
	}
	b.silent = silent
	return nil
}
