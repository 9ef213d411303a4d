package firmware_test

import (
	"context"
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestCloudJtiReuse: through mosquitto, a command id reused for another command is
// refused conflict and nothing runs, on both of lockerd's paths (a command recorded in
// one transition, a ping; a command begun before it acts, a cancel); the same command
// signed again (another iat) is answered with its stored reply
// (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestCloudJtiReuse(t *testing.T) {
	w := newCloudWorld(t, cloudWorldOptions{lockerID: "JTI-01"})
	stop := w.runInProcess(t)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w.online(ctx, t, "")
	send := func(id string, body protocol.Body, iat time.Time) *protocol.Reply {
		t.Helper()
		cmd, err := w.client.NewCommandAt(w.station.ID, id, body, iat, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r, err := w.client.Send(ctx, cmd, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	now := time.Now()
	steps := []struct {
		name   string
		id     string
		body   protocol.Body
		iat    time.Time
		status protocol.Status
		reason protocol.Reason
	}{
		{"ping", "jti-a", &protocol.PingBody{}, now, protocol.StatusDone, ""},
		{"ping again, signed again", "jti-a", &protocol.PingBody{}, now.Add(-time.Second), protocol.StatusDone, ""},
		{"inventory under the ping's id", "jti-a", &protocol.InventoryBody{}, now, protocol.StatusRefused, protocol.ReasonConflict},
		{"cancel of an unknown parcel", "jti-b", &protocol.CancelBody{Parcel: "p-none"}, now, protocol.StatusRefused, protocol.ReasonNotFound},
		{"the same cancel signed again", "jti-b", &protocol.CancelBody{Parcel: "p-none"}, now.Add(-time.Second), protocol.StatusRefused, protocol.ReasonNotFound},
		{"another cancel under its id", "jti-b", &protocol.CancelBody{Parcel: "p-other"}, now, protocol.StatusRefused, protocol.ReasonConflict},
		{"a ping under the cancel's id", "jti-b", &protocol.PingBody{}, now, protocol.StatusRefused, protocol.ReasonConflict},
	}
	for _, s := range steps {
		r := send(s.id, s.body, s.iat)
		if r.Status != s.status || r.Reason != s.reason || r.ID != s.id {
			t.Fatalf("%s: got %s/%s (%s), want %s/%s", s.name, r.Status, r.Reason, r.Detail, s.status, s.reason)
		}
	}
	// The conflicts changed nothing: the ping's id still answers the ping's reply.
	if r := send("jti-a", &protocol.PingBody{}, now); r.Status != protocol.StatusDone || r.Body == nil {
		t.Fatalf("the ping's id after the conflict: %+v", r)
	}
}
