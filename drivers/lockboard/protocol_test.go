package lockboard_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockerd/lockerd/drivers/lockboard"
)

func TestEncodeRequestVectors(t *testing.T) {
	tests := []struct {
		name string
		req  lockboard.Request
		want []byte
	}{
		{"cu16 query board 0", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpStatus, Board: 0}, []byte{0x02, 0x00, 0x30, 0x03, 0x35}},
		{"cu16 unlock board 0 lock 1", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: 0, Lock: 1}, []byte{0x02, 0x00, 0x31, 0x03, 0x36}},
		{"cu16 unlock board 1 lock 3", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: 1, Lock: 3}, []byte{0x02, 0x12, 0x31, 0x03, 0x48}},
		{"8a open board 1 lock 1", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpUnlock, Board: 1, Lock: 1}, []byte{0x8a, 0x01, 0x01, 0x11, 0x9b}},
		{"8a query board 1 lock 1", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpStatusLock, Board: 1, Lock: 1}, []byte{0x80, 0x01, 0x01, 0x33, 0xb3}},
		{"8a query board 1", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpStatus, Board: 1}, []byte{0x80, 0x01, 0x00, 0x33, 0xb2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lockboard.EncodeRequest(tt.req)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("EncodeRequest = % X, %v; want % X", got, err, tt.want)
			}
		})
	}
}

func TestEncodeRejectsBadAddresses(t *testing.T) {
	tests := []struct {
		name string
		req  lockboard.Request
	}{
		{"cu16 board 16", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpStatus, Board: 16}},
		{"cu16 lock 0", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: 0, Lock: 0}},
		{"cu16 lock 17", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: 0, Lock: 17}},
		{"cu16 negative board", lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpUnlock, Board: -1, Lock: 1}},
		{"8a board 0", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpStatus, Board: 0}},
		{"8a board 256", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpStatus, Board: 256}},
		{"8a lock 25", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpUnlock, Board: 1, Lock: 25}},
		{"8a open all", lockboard.Request{Protocol: lockboard.Protocol8A, Op: lockboard.OpUnlock, Board: 1, Lock: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := lockboard.EncodeRequest(tt.req); !errors.Is(err, lockboard.ErrAddress) {
				t.Errorf("EncodeRequest = % X, %v; want ErrAddress", got, err)
			}
		})
	}
	if _, err := lockboard.EncodeRequest(lockboard.Request{Protocol: lockboard.ProtocolCU16, Op: lockboard.OpStatusLock}); err == nil {
		t.Error("cu16 single-lock status encoded; the protocol has none")
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rep  lockboard.Reply
	}{
		{"cu16 board", lockboard.Reply{Protocol: lockboard.ProtocolCU16, Kind: lockboard.KindBoard, Board: 9, Locks: 0xa55a, Sensors: 0x0ff0}},
		{"8a board", lockboard.Reply{Protocol: lockboard.Protocol8A, Kind: lockboard.KindBoard, Board: 31, Locks: 0xc0ffee}},
		{"8a lock set", lockboard.Reply{Protocol: lockboard.Protocol8A, Kind: lockboard.KindLock, Board: 2, Lock: 24, Locks: 1 << 23}},
		{"8a open echo clear", lockboard.Reply{Protocol: lockboard.Protocol8A, Kind: lockboard.KindLock, Board: 200, Lock: 7, Echo: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := lockboard.EncodeReply(tt.rep)
			if err != nil {
				t.Fatal(err)
			}
			got, used, err := lockboard.DecodeReply(tt.rep.Protocol, tt.rep.Kind, b)
			if err != nil || used != len(b) || got != tt.rep {
				t.Errorf("DecodeReply(% X) = %+v, %d, %v; want %+v", b, got, used, err, tt.rep)
			}
		})
	}
}

func TestNamesRoundTrip(t *testing.T) {
	for _, p := range []lockboard.Protocol{lockboard.ProtocolCU16, lockboard.Protocol8A} {
		if got, err := lockboard.ParseProtocol(p.String()); err != nil || got != p {
			t.Errorf("ParseProtocol(%q) = %v, %v", p.String(), got, err)
		}
	}
	for _, p := range []lockboard.Polarity{lockboard.SetMeansClosed, lockboard.SetMeansOpen} {
		if got, err := lockboard.ParsePolarity(p.String()); err != nil || got != p {
			t.Errorf("ParsePolarity(%q) = %v, %v", p.String(), got, err)
		}
		for _, open := range []bool{false, true} {
			if p.Open(p.Bit(open)) != open {
				t.Errorf("%v: Open(Bit(%v)) != %v", p, open, open)
			}
		}
	}
	if _, err := lockboard.ParseProtocol("modbus"); err == nil {
		t.Error("ParseProtocol accepted an unknown name")
	}
	if _, err := lockboard.ParsePolarity("inverted"); err == nil || err.Error() != `lockboard: unknown polarity "inverted"` {
		t.Errorf("ParsePolarity(inverted) = %v, want the unknown-polarity error", err)
	}
	if p, err := lockboard.ParsePolarity(""); err != nil || p != lockboard.SetMeansClosed {
		t.Errorf(`ParsePolarity("") = %v, %v; want the default, set-closed`, p, err)
	}
	if s := lockboard.Polarity(7).String(); s != "Polarity(7)" {
		t.Errorf("Polarity(7).String() = %q", s)
	}
}
