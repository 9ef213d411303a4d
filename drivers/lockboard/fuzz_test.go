package lockboard_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lockerd/lockerd/drivers/lockboard"
)

// checkDecode holds for every decoder: it never panics, consumes within
// bounds, always makes progress unless it waits for more bytes, and a
// decoded frame re-encodes to a frame that decodes to the same value. For
// canonical protocols (exact) the re-encoded bytes are the decoded ones.
func checkDecode[T comparable](t *testing.T, buf []byte, got T, used int, err error, exact bool,
	encode func(T) ([]byte, error), decode func([]byte) (T, int, error)) {
	t.Helper()
	if used < 0 || used > len(buf) {
		t.Fatalf("used %d of %d bytes", used, len(buf))
	}
	switch {
	case err == nil:
		enc, eerr := encode(got)
		if eerr != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", got, eerr)
		}
		again, n, derr := decode(enc)
		if derr != nil || n != len(enc) || again != got {
			t.Fatalf("re-encoded % X decodes to %+v, %d, %v; want %+v", enc, again, n, derr, got)
		}
		if exact && (used < len(enc) || !bytes.Equal(enc, buf[used-len(enc):used])) {
			t.Fatalf("re-encoded % X, decoded from % X", enc, buf[:used])
		}
	case errors.Is(err, lockboard.ErrIncomplete):
	case errors.Is(err, lockboard.ErrChecksum), errors.Is(err, lockboard.ErrMalformed):
		if used == 0 {
			t.Fatalf("error %v without progress", err)
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}
}

func seedTranscripts(f *testing.F, proto string) {
	for _, r := range loadTranscripts(f, proto) {
		f.Add(r.req)
		if r.rep != nil {
			f.Add(r.rep)
		}
	}
}

func fuzzRequests(f *testing.F, p lockboard.Protocol, exact bool) {
	seedTranscripts(f, p.String())
	decode := func(b []byte) (lockboard.Request, int, error) { return lockboard.DecodeRequest(p, b) }
	f.Fuzz(func(t *testing.T, buf []byte) {
		req, used, err := decode(buf)
		checkDecode(t, buf, req, used, err, exact, lockboard.EncodeRequest, decode)
	})
}

func fuzzReplies(f *testing.F, p lockboard.Protocol, kind lockboard.Kind, exact bool) {
	seedTranscripts(f, p.String())
	decode := func(b []byte) (lockboard.Reply, int, error) { return lockboard.DecodeReply(p, kind, b) }
	f.Fuzz(func(t *testing.T, buf []byte) {
		rep, used, err := decode(buf)
		checkDecode(t, buf, rep, used, err, exact, lockboard.EncodeReply, decode)
	})
}

// CU16 decoding drops the low address nibble of status frames, so its
// re-encoding is canonical rather than exact.
func FuzzDecodeRequestCU16(f *testing.F) { fuzzRequests(f, lockboard.ProtocolCU16, false) }
func FuzzDecodeRequest8A(f *testing.F)   { fuzzRequests(f, lockboard.Protocol8A, true) }
func FuzzDecodeReplyCU16(f *testing.F) {
	fuzzReplies(f, lockboard.ProtocolCU16, lockboard.KindBoard, false)
}
func FuzzDecodeReply8ABoard(f *testing.F) {
	fuzzReplies(f, lockboard.Protocol8A, lockboard.KindBoard, true)
}
func FuzzDecodeReply8ALock(f *testing.F) {
	fuzzReplies(f, lockboard.Protocol8A, lockboard.KindLock, true)
}
