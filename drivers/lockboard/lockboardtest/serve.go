package lockboardtest

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard"
)

const (
	// presenceWindow bounds each master read, so the loop notices Unplug and
	// learns whether a client holds the slave (a quiet open slave times out;
	// a closed one reads EIO at once).
	presenceWindow = 50 * time.Millisecond
	// idleRetry paces reads while no client has the slave open.
	idleRetry   = 10 * time.Millisecond
	maxBuffered = 256
)

// serve answers requests on one pty until it is unplugged or its client
// goes away; in the latter case it renews the pty behind the same link.
func (s *Set) serve(c *conn) {
	defer s.serving.Done()
	defer close(c.done)
	var buf []byte
	tmp := make([]byte, 256)
	sawClient := false
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		_ = c.master.SetReadDeadline(time.Now().Add(presenceWindow))
		n, err := c.master.Read(tmp)
		if n > 0 {
			sawClient = true
			buf = append(buf, tmp[:n]...)
			buf = s.handle(c, buf)
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			sawClient = true
		case errors.Is(err, syscall.EIO):
			if sawClient {
				s.renew(c)
				return
			}
			t := time.NewTimer(idleRetry)
			select {
			case <-c.stop:
				t.Stop()
				return
			case <-t.C:
			}
		default:
			return // master closed by Unplug or Close
		}
	}
}

// renew replaces a pty whose client went away. A client killed by SIGKILL
// never clears the exclusive-open flag (TIOCEXCL) that go.bug.st/serial
// sets, and on a pty that flag outlives the client while the master stays
// open; a real USB tty drops it on last close. Without a new pty an
// unprivileged restarted client would get EBUSY.
func (s *Set) renew(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.cur != c {
		return
	}
	s.unplugLocked(c)
	s.stats.Clients++
	s.recordLocked(Event{Kind: EventDisconnect})
	if err := s.plugLocked(); err != nil {
		s.log.Error("lockboardtest: renew pty", "err", err)
		_ = os.Remove(s.link)
	}
}

// handle answers every complete request in buf and returns the rest.
func (s *Set) handle(c *conn, buf []byte) []byte {
	for len(buf) > 0 {
		req, used, err := lockboard.DecodeRequest(s.cfg.Protocol, buf)
		buf = buf[used:]
		if errors.Is(err, lockboard.ErrIncomplete) {
			break
		}
		if err != nil {
			s.mu.Lock()
			s.stats.Garbage++
			s.mu.Unlock()
			continue
		}
		reply := s.answer(req)
		if reply == nil {
			continue
		}
		t := time.NewTimer(s.cfg.ReplyDelay)
		select {
		case <-c.stop:
			t.Stop()
			return nil
		case <-t.C:
		}
		if _, err := c.master.Write(reply); err == nil {
			s.mu.Lock()
			s.stats.Replies++
			s.mu.Unlock()
		}
	}
	if len(buf) > maxBuffered {
		buf = buf[len(buf)-maxBuffered:]
	}
	return buf
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
