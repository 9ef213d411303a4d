package lockboard

import (
	"bytes"
	"fmt"
)

// Kerong CU16 frame bytes. A request is 02 ADDR CMD 03 SUM; a status reply
// is 02 ADDR 35 L1-8 L9-16 S1-8 S9-16 03 SUM. SUM is the low byte of the
// sum of all preceding bytes. ADDR is board<<4 | (lock-1).
const (
	cu16STX       = 0x02
	cu16ETX       = 0x03
	cu16CmdStatus = 0x30
	cu16CmdUnlock = 0x31
	cu16CmdReply  = 0x35

	cu16RequestLen = 5
	cu16ReplyLen   = 9
)

func cu16Addr(board, lock int) byte {
	a := byte(board << 4)
	if lock > 0 {
		a |= byte(lock - 1)
	}
	return a
}

func encodeCU16Request(r Request) ([]byte, error) {
	var cmd byte
	switch r.Op {
	case OpStatus:
		cmd = cu16CmdStatus
		if err := ProtocolCU16.checkAddr(r.Board, 0, true); err != nil {
			return nil, err
		}
		r.Lock = 0
	case OpUnlock:
		cmd = cu16CmdUnlock
		if err := ProtocolCU16.checkAddr(r.Board, r.Lock, false); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("lockboard: cu16 has no %s request", r.Op)
	}
	f := []byte{cu16STX, cu16Addr(r.Board, r.Lock), cmd, cu16ETX, 0}
	f[4] = sum8(f[:4])
	return f, nil
}

func decodeCU16Request(buf []byte) (Request, int, error) {
	i := bytes.IndexByte(buf, cu16STX)
	if i < 0 {
		return Request{}, len(buf), fmt.Errorf("%w: cu16 request: no start byte", ErrIncomplete)
	}
	f := buf[i:]
	if len(f) >= 3 && f[2] != cu16CmdStatus && f[2] != cu16CmdUnlock {
		return Request{}, i + 1, fmt.Errorf("%w: cu16 request: command %#02x", ErrMalformed, f[2])
	}
	if len(f) >= 4 && f[3] != cu16ETX {
		return Request{}, i + 1, fmt.Errorf("%w: cu16 request: no end byte", ErrMalformed)
	}
	if len(f) < cu16RequestLen {
		return Request{}, i, fmt.Errorf("%w: cu16 request: %d of %d bytes", ErrIncomplete, len(f), cu16RequestLen)
	}
	if want := sum8(f[:4]); f[4] != want {
		return Request{}, i + 1, fmt.Errorf("%w: cu16 request: got %#02x, want %#02x", ErrChecksum, f[4], want)
	}
	r := Request{Protocol: ProtocolCU16, Board: int(f[1] >> 4)}
	if f[2] == cu16CmdUnlock {
		r.Op, r.Lock = OpUnlock, int(f[1]&0x0f)+1
	} else {
		r.Op = OpStatus
	}
	return r, i + cu16RequestLen, nil
}

func encodeCU16Reply(rep Reply) ([]byte, error) {
	if err := ProtocolCU16.checkAddr(rep.Board, rep.Lock, true); err != nil {
		return nil, err
	}
	if rep.Kind != KindBoard {
		return nil, fmt.Errorf("lockboard: cu16 has no single-lock reply")
	}
	f := []byte{
		cu16STX, cu16Addr(rep.Board, rep.Lock), cu16CmdReply,
		byte(rep.Locks), byte(rep.Locks >> 8),
		byte(rep.Sensors), byte(rep.Sensors >> 8),
		cu16ETX, 0,
	}
	f[8] = sum8(f[:8])
	return f, nil
}

func decodeCU16Reply(buf []byte) (Reply, int, error) {
	i := bytes.IndexByte(buf, cu16STX)
	if i < 0 {
		return Reply{}, len(buf), fmt.Errorf("%w: cu16 reply: no start byte", ErrIncomplete)
	}
	f := buf[i:]
	if len(f) >= 3 && f[2] != cu16CmdReply {
		return Reply{}, i + 1, fmt.Errorf("%w: cu16 reply: command %#02x", ErrMalformed, f[2])
	}
	if len(f) >= 8 && f[7] != cu16ETX {
		return Reply{}, i + 1, fmt.Errorf("%w: cu16 reply: no end byte", ErrMalformed)
	}
	if len(f) < cu16ReplyLen {
		return Reply{}, i, fmt.Errorf("%w: cu16 reply: %d of %d bytes", ErrIncomplete, len(f), cu16ReplyLen)
	}
	if want := sum8(f[:8]); f[8] != want {
		return Reply{}, i + 1, fmt.Errorf("%w: cu16 reply: got %#02x, want %#02x", ErrChecksum, f[8], want)
	}
	rep := Reply{
		Protocol: ProtocolCU16,
		Kind:     KindBoard,
		Board:    int(f[1] >> 4),
		Locks:    uint32(f[3]) | uint32(f[4])<<8,
		Sensors:  uint32(f[5]) | uint32(f[6])<<8,
	}
	return rep, i + cu16ReplyLen, nil
}
