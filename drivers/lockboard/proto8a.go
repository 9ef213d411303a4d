package lockboard

import (
	"fmt"
)

// Generic 8A/80 board frames, all with an XOR checksum of the preceding
// bytes:
//
//	open one lock   8A BB LL 11 X   reply 8A BB LL SS X
//	query one lock  80 BB LL 33 X   reply 80 BB LL SS X
//	query the board 80 BB 00 33 X   reply 80 BB S17-24 S9-16 S1-8 33 X
//
// SS is 0x11 or 0x00; in the board reply bit i of S1-8 is lock i+1. What a
// set bit means (locked or open) differs between board batches: see
// Polarity.
const (
	p8aOpen  = 0x8a
	p8aQuery = 0x80
	p8aFnOpn = 0x11
	p8aFnQry = 0x33
	p8aSet   = 0x11
	p8aClear = 0x00

	p8aShortLen = 5
	p8aLongLen  = 7
)

func encode8ARequest(r Request) ([]byte, error) {
	var f []byte
	switch r.Op {
	case OpUnlock:
		if err := Protocol8A.checkAddr(r.Board, r.Lock, false); err != nil {
			return nil, err
		}
		f = []byte{p8aOpen, byte(r.Board), byte(r.Lock), p8aFnOpn, 0}
	case OpStatusLock:
		if err := Protocol8A.checkAddr(r.Board, r.Lock, false); err != nil {
			return nil, err
		}
		f = []byte{p8aQuery, byte(r.Board), byte(r.Lock), p8aFnQry, 0}
	case OpStatus:
		if err := Protocol8A.checkAddr(r.Board, 0, true); err != nil {
			return nil, err
		}
		f = []byte{p8aQuery, byte(r.Board), 0, p8aFnQry, 0}
	default:
		return nil, fmt.Errorf("lockboard: 8a has no %s request", r.Op)
	}
	f[4] = xor8(f[:4])
	return f, nil
}

// index8A returns the index of the first 8A or 80 header byte in buf.
func index8A(buf []byte) int {
	for i, c := range buf {
		if c == p8aOpen || c == p8aQuery {
			return i
		}
	}
	return -1
}

func decode8ARequest(buf []byte) (Request, int, error) {
	i := index8A(buf)
	if i < 0 {
		return Request{}, len(buf), fmt.Errorf("%w: 8a request: no start byte", ErrIncomplete)
	}
	f := buf[i:]
	if len(f) < p8aShortLen {
		if len(f) >= 4 && !valid8AFn(f[0], f[3]) {
			return Request{}, i + 1, fmt.Errorf("%w: 8a request: function %#02x", ErrMalformed, f[3])
		}
		return Request{}, i, fmt.Errorf("%w: 8a request: %d of %d bytes", ErrIncomplete, len(f), p8aShortLen)
	}
	if !valid8AFn(f[0], f[3]) {
		return Request{}, i + 1, fmt.Errorf("%w: 8a request: function %#02x", ErrMalformed, f[3])
	}
	if want := xor8(f[:4]); f[4] != want {
		return Request{}, i + 1, fmt.Errorf("%w: 8a request: got %#02x, want %#02x", ErrChecksum, f[4], want)
	}
	r := Request{Protocol: Protocol8A, Board: int(f[1]), Lock: int(f[2])}
	switch {
	case f[0] == p8aOpen:
		r.Op = OpUnlock
	case f[2] == 0:
		r.Op = OpStatus
	default:
		r.Op = OpStatusLock
	}
	if r.Op == OpUnlock && r.Lock == 0 {
		// 8A BB 00 11 opens every lock in turn; the driver never sends it and
		// the virtual board refuses it.
		return Request{}, i + 1, fmt.Errorf("%w: 8a request: open-all is not supported", ErrMalformed)
	}
	if err := Protocol8A.checkAddr(r.Board, r.Lock, true); err != nil {
		return Request{}, i + 1, fmt.Errorf("%w: 8a request: %w", ErrMalformed, err)
	}
	return r, i + p8aShortLen, nil
}

func valid8AFn(hdr, fn byte) bool {
	return (hdr == p8aOpen && fn == p8aFnOpn) || (hdr == p8aQuery && fn == p8aFnQry)
}

func encode8AReply(rep Reply) ([]byte, error) {
	switch rep.Kind {
	case KindBoard:
		if err := Protocol8A.checkAddr(rep.Board, 0, true); err != nil {
			return nil, err
		}
		f := []byte{p8aQuery, byte(rep.Board), byte(rep.Locks >> 16), byte(rep.Locks >> 8), byte(rep.Locks), p8aFnQry, 0}
		f[6] = xor8(f[:6])
		return f, nil
	case KindLock:
		if err := Protocol8A.checkAddr(rep.Board, rep.Lock, false); err != nil {
			return nil, err
		}
		hdr := byte(p8aQuery)
		if rep.Echo {
			hdr = p8aOpen
		}
		st := byte(p8aClear)
		if rep.Locks&(1<<(rep.Lock-1)) != 0 {
			st = p8aSet
		}
		f := []byte{hdr, byte(rep.Board), byte(rep.Lock), st, 0}
		f[4] = xor8(f[:4])
		return f, nil
	}
	return nil, fmt.Errorf("lockboard: 8a reply kind %d", int(rep.Kind))
}

func decode8AReply(kind Kind, buf []byte) (Reply, int, error) {
	i := index8A(buf)
	if i < 0 {
		return Reply{}, len(buf), fmt.Errorf("%w: 8a reply: no start byte", ErrIncomplete)
	}
	f := buf[i:]
	if kind == KindBoard {
		if f[0] != p8aQuery {
			return Reply{}, i + 1, fmt.Errorf("%w: 8a board reply: header %#02x", ErrMalformed, f[0])
		}
		if len(f) >= 6 && f[5] != p8aFnQry {
			return Reply{}, i + 1, fmt.Errorf("%w: 8a board reply: function %#02x", ErrMalformed, f[5])
		}
		if len(f) < p8aLongLen {
			return Reply{}, i, fmt.Errorf("%w: 8a board reply: %d of %d bytes", ErrIncomplete, len(f), p8aLongLen)
		}
		if want := xor8(f[:6]); f[6] != want {
			return Reply{}, i + 1, fmt.Errorf("%w: 8a board reply: got %#02x, want %#02x", ErrChecksum, f[6], want)
		}
		if f[1] == 0 {
			return Reply{}, i + 1, fmt.Errorf("%w: 8a board reply: board 0", ErrMalformed)
		}
		rep := Reply{
			Protocol: Protocol8A, Kind: KindBoard, Board: int(f[1]),
			Locks: uint32(f[4]) | uint32(f[3])<<8 | uint32(f[2])<<16,
		}
		return rep, i + p8aLongLen, nil
	}
	if len(f) >= 4 && f[3] != p8aSet && f[3] != p8aClear {
		return Reply{}, i + 1, fmt.Errorf("%w: 8a lock reply: state %#02x", ErrMalformed, f[3])
	}
	if len(f) < p8aShortLen {
		return Reply{}, i, fmt.Errorf("%w: 8a lock reply: %d of %d bytes", ErrIncomplete, len(f), p8aShortLen)
	}
	if want := xor8(f[:4]); f[4] != want {
		return Reply{}, i + 1, fmt.Errorf("%w: 8a lock reply: got %#02x, want %#02x", ErrChecksum, f[4], want)
	}
	lock := int(f[2])
	if err := Protocol8A.checkAddr(int(f[1]), lock, false); err != nil {
		return Reply{}, i + 1, fmt.Errorf("%w: 8a lock reply: %w", ErrMalformed, err)
	}
	rep := Reply{Protocol: Protocol8A, Kind: KindLock, Board: int(f[1]), Lock: lock}
	if f[3] == p8aSet {
		rep.Locks = 1 << (lock - 1)
	}
	rep.Echo = f[0] == p8aOpen
	return rep, i + p8aShortLen, nil
}
