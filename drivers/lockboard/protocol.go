// Package lockboard drives RS-485 lock-control boards (Kerong CU16-style and
// the generic 8A/80 boards) over a serial port.
//
// The package has two layers. The codecs (EncodeRequest, DecodeRequest,
// EncodeReply, DecodeReply) are pure functions over bytes, tested from byte
// transcripts and fuzzed. A Bus owns one serial port with several boards on
// it: it polls their status, turns bit changes into Change callbacks,
// serialises Unlock commands with the polling, and recovers from a dead or
// unplugged port by reopening it by path with backoff.
//
// The package speaks only in board and lock numbers; it knows nothing about
// compartments, parcels or the cloud.
package lockboard

import (
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/internal/enum"
)

// Errors returned by the codecs. Decoders wrap them with detail; compare
// with errors.Is.
var (
	// ErrIncomplete means the buffer holds the start of a frame but not all of
	// it: read more bytes and decode again.
	ErrIncomplete = errors.New("lockboard: incomplete frame")
	// ErrChecksum means a frame was found whose checksum does not match.
	ErrChecksum = errors.New("lockboard: bad checksum")
	// ErrMalformed means bytes at a frame start do not form a valid frame.
	ErrMalformed = errors.New("lockboard: malformed frame")
	// ErrAddress means a board or lock number is outside the protocol's range.
	ErrAddress = errors.New("lockboard: address out of range")
)

// Protocol is the byte protocol spoken on a bus. Its values go to config
// files, so they are explicit and never shift; its names are an internal/enum
// Set (ADR 0044).
type Protocol int

// Protocols.
const (
	// ProtocolCU16 is the Kerong CU16 family: 19200 8N1, frames
	// 02 ADDR CMD 03 SUM, up to 16 boards of 16 locks with sensor inputs.
	ProtocolCU16 Protocol = 1
	// Protocol8A is the generic 8A/80 family: 9600 8N1, 5-byte frames with an
	// XOR checksum, boards of up to 24 locks.
	Protocol8A Protocol = 2
)

var protocols = enum.New(enum.Spec[Protocol]{
	Defs: []enum.Def[Protocol]{
		{Value: ProtocolCU16, Name: "cu16"},
		{Value: Protocol8A, Name: "8a"},
	},
	Aliases: map[string]Protocol{"CU16": ProtocolCU16, "kerong": ProtocolCU16, "8A": Protocol8A, "8a80": Protocol8A},
	Unknown: func(s string) error { return fmt.Errorf("lockboard: unknown protocol %q", s) },
	Other:   "Protocol(%d)",
})

// String returns the config name of the protocol.
func (p Protocol) String() string { return protocols.String(p) }

// ParseProtocol parses a config name produced by Protocol.String, or one of its
// aliases (CU16, kerong; 8A, 8a80).
func ParseProtocol(s string) (Protocol, error) { return protocols.Parse(s) }

// BaudRate is the protocol's factory-default line speed (8N1).
func (p Protocol) BaudRate() int {
	if p == Protocol8A {
		return 9600
	}
	return 19200
}

// MaxLocks is the largest number of locks one board of this protocol has.
func (p Protocol) MaxLocks() int {
	if p == Protocol8A {
		return 24
	}
	return 16
}

// BoardRange returns the smallest and largest valid board address.
func (p Protocol) BoardRange() (lo, hi int) {
	if p == Protocol8A {
		return 1, 255
	}
	return 0, 15
}

func (p Protocol) valid() bool { return protocols.Valid(p) }

// checkAddr validates a board address and a lock number; lock 0 is allowed
// only when allowZero is set (board-wide requests).
func (p Protocol) checkAddr(board, lock int, allowZero bool) error {
	lo, hi := p.BoardRange()
	if board < lo || board > hi {
		return fmt.Errorf("%w: %s board %d (want %d-%d)", ErrAddress, p, board, lo, hi)
	}
	if lock == 0 && allowZero {
		return nil
	}
	if lock < 1 || lock > p.MaxLocks() {
		return fmt.Errorf("%w: %s lock %d (want 1-%d)", ErrAddress, p, lock, p.MaxLocks())
	}
	return nil
}

// Op is what a request asks of a board.
type Op int

// Request operations.
const (
	// OpStatus asks a board for the state of all its locks.
	OpStatus Op = 1
	// OpUnlock asks a board to pulse one lock.
	OpUnlock Op = 2
	// OpStatusLock asks an 8A board for the state of one lock.
	OpStatusLock Op = 3
)

var ops = enum.New(enum.Spec[Op]{
	Defs: []enum.Def[Op]{
		{Value: OpStatus, Name: "status"},
		{Value: OpUnlock, Name: "unlock"},
		{Value: OpStatusLock, Name: "status-lock"},
	},
	Unknown: func(s string) error { return fmt.Errorf("lockboard: unknown operation %q", s) },
	Other:   "Op(%d)",
})

// String names the operation.
func (o Op) String() string { return ops.String(o) }

// Request is one command frame from the host to a board.
type Request struct {
	Protocol Protocol
	Op       Op
	Board    int
	Lock     int // 1-based; 0 for board-wide requests
}

// Kind says which shape of reply is expected. Only the 8A protocol needs it:
// its 5-byte and 7-byte replies share a header byte.
type Kind int

// Reply kinds.
const (
	// KindBoard is a reply carrying the bits of every lock on a board.
	KindBoard Kind = 1
	// KindLock is a reply carrying the state of one lock (8A only).
	KindLock Kind = 2
)

// Reply is one decoded frame from a board. Bits are raw, before polarity:
// bit i of Locks is lock i+1.
type Reply struct {
	Protocol Protocol
	Kind     Kind
	Board    int
	Lock     int    // the lock a KindLock reply is about; else 0
	Locks    uint32 // raw lock bits
	Sensors  uint32 // raw sensor-input bits (CU16 only)
	Echo     bool   // an 8A reply to an open command (header 8A, not 80)
}

// ReplyKind returns the reply shape a request is answered with.
func (r Request) ReplyKind() Kind {
	if r.Protocol == Protocol8A && r.Op != OpStatus {
		return KindLock
	}
	return KindBoard
}

// Answers reports whether rep is a plausible answer to r: same protocol,
// shape and board, and for single-lock replies the same lock.
func (r Request) Answers(rep Reply) bool {
	if rep.Protocol != r.Protocol || rep.Kind != r.ReplyKind() || rep.Board != r.Board {
		return false
	}
	if rep.Kind == KindLock && (rep.Lock != r.Lock || rep.Echo != (r.Op == OpUnlock)) {
		return false
	}
	return true
}

// EncodeRequest returns the frame for r.
func EncodeRequest(r Request) ([]byte, error) {
	switch r.Protocol {
	case ProtocolCU16:
		return encodeCU16Request(r)
	case Protocol8A:
		return encode8ARequest(r)
	}
	return nil, fmt.Errorf("lockboard: unknown protocol %d", int(r.Protocol))
}

// DecodeRequest finds the first request frame in buf. It returns the request
// and the number of bytes consumed. On ErrIncomplete the consumed bytes are
// leading noise that may be dropped; on ErrChecksum or ErrMalformed they
// include the bad start byte, so decoding again resynchronises.
func DecodeRequest(p Protocol, buf []byte) (Request, int, error) {
	switch p {
	case ProtocolCU16:
		return decodeCU16Request(buf)
	case Protocol8A:
		return decode8ARequest(buf)
	}
	return Request{}, 0, fmt.Errorf("lockboard: unknown protocol %d", int(p))
}

// EncodeReply returns the frame a board sends for rep.
func EncodeReply(rep Reply) ([]byte, error) {
	switch rep.Protocol {
	case ProtocolCU16:
		return encodeCU16Reply(rep)
	case Protocol8A:
		return encode8AReply(rep)
	}
	return nil, fmt.Errorf("lockboard: unknown protocol %d", int(rep.Protocol))
}

// DecodeReply finds the first reply frame of the given kind in buf, with
// the same consumption rules as DecodeRequest.
func DecodeReply(p Protocol, kind Kind, buf []byte) (Reply, int, error) {
	switch p {
	case ProtocolCU16:
		return decodeCU16Reply(buf)
	case Protocol8A:
		return decode8AReply(kind, buf)
	}
	return Reply{}, 0, fmt.Errorf("lockboard: unknown protocol %d", int(p))
}

func sum8(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func xor8(b []byte) byte {
	var s byte
	for _, c := range b {
		s ^= c
	}
	return s
}
