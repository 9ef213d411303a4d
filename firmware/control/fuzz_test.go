package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// answerTypes are the reply bodies the client's methods decode, by method.
var answerTypes = []struct {
	method, path string
	out          func() any
}{
	{"POST", PathPickup, func() any { return new(locker.Pickup) }},
	{"POST", PathLogin, func() any { return new(LoginReply) }},
	{"POST", PathScan, func() any { return new(locker.Slot) }},
	{"POST", PathRetrieve, func() any { return new(SlotsReply) }},
	{"GET", PathStatus, func() any { return new(locker.Status) }},
	{"GET", PathInv, func() any { return new([]locker.CompartmentView) }},
	{"GET", PathIdentity, func() any { return new(IdentityReply) }},
	{"POST", PathAnnounce, func() any { return new(AnnounceReply) }},
	{"GET", PathDrivers, func() any { return new([]DriverStatus) }},
	{"POST", PathCancel, func() any { return nil }},
}

// FuzzDecodeAnswer decodes arbitrary answers from the control socket as the client
// does. A 2xx body either fills the method's reply, which then survives an encode and
// decode unchanged, or is refused with the package prefix naming the call; any other
// status is an *Error with that status, carrying the server's reason (or "http" and a
// message of our own when the body is no error reply), a non-negative retry delay,
// and matching the station's sentinel for its reason. A retry delay beyond what a
// Duration holds saturates.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add(uint8(0), 200, []byte(`{"compartments":[3],"handover":"h-1"}`))
	f.Add(uint8(1), 200, []byte(`{"session":"s-1"}`))
	f.Add(uint8(2), 200, []byte(`{"compartment":2,"parcel":"p-1","kind":"door","size":"M"}`))
	f.Add(uint8(4), 200, []byte(`{"locker_id":"LK-1","audit_seq":12}`))
	f.Add(uint8(5), 200, []byte(`[{"id":1,"size":"M","kind":"door"}]`))
	f.Add(uint8(6), 200, []byte(`{"locker_id":"API-1","x25519_public":"ab"}`))
	f.Add(uint8(9), 204, []byte(nil))
	f.Add(uint8(0), 403, []byte(`{"error":"locker: wrong code","reason":"wrong_code"}`))
	f.Add(uint8(0), 429, []byte(`{"error":"locker: too many failures","reason":"throttled","retry_after_ms":60000}`))
	f.Add(uint8(0), 429, []byte(`{"error":"x","reason":"throttled","retry_after_ms":-5}`))
	f.Add(uint8(0), 429, []byte(`{"error":"x","reason":"throttled","retry_after_ms":9223372036854775807}`))
	f.Add(uint8(0), 502, []byte(`<html>bad gateway</html>`))
	f.Add(uint8(4), 200, []byte(`{"audit_seq":"12"}`))
	f.Add(uint8(5), 200, []byte(`{`))
	f.Fuzz(func(t *testing.T, which uint8, status int, data []byte) {
		a := answerTypes[int(which)%len(answerTypes)]
		out := a.out()
		err := decodeAnswer(a.method, a.path, status, data, out)
		call := fmt.Sprintf("control: %s %s: ", a.method, a.path)
		if status/100 != 2 {
			var e *Error
			if !errors.As(err, &e) || e.Status != status || e.RetryAfter < 0 {
				t.Fatalf("status %d: %#v", status, err)
			}
			var er ErrorReply
			if json.Unmarshal(data, &er) != nil || er.Reason == "" {
				if e.Reason != "http" || e.Message != fmt.Sprintf("%sHTTP %d", call, status) {
					t.Fatalf("status %d with no error reply: %#v", status, e)
				}
				return
			}
			if e.Reason != er.Reason || e.Message != er.Error {
				t.Fatalf("status %d: %#v from %+v", status, e, er)
			}
			if er.RetryAfterMS >= 0 && er.RetryAfterMS <= int64(time.Hour*24*365/time.Millisecond) &&
				e.RetryAfter != time.Duration(er.RetryAfterMS)*time.Millisecond {
				t.Fatalf("retry after %d ms read as %v", er.RetryAfterMS, e.RetryAfter)
			}
			for _, r := range reasons {
				if errors.Is(err, r.err) != (r.reason == e.Reason) {
					t.Fatalf("reason %q and errors.Is(%v) disagree", e.Reason, r.err)
				}
			}
			return
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), call+"reply: ") {
				t.Fatalf("a bad 2xx body: %v lacks %q", err, call)
			}
			return
		}
		if out == nil {
			return
		}
		first, err := json.Marshal(out)
		if err != nil {
			// A member the answer left out leaves a zero enum (a compartment's
			// kind or size), which the locker's types refuse to encode rather
			// than write a default nobody chose.
			return
		}
		again := a.out()
		if err := decodeAnswer(a.method, a.path, status, first, again); err != nil {
			t.Fatalf("the re-encoded %T is refused: %v\n%s", out, err, first)
		}
		second, _ := json.Marshal(again)
		if string(first) != string(second) {
			t.Fatalf("a %T changed in a round trip:\n%s\n%s", out, first, second)
		}
	})
}
