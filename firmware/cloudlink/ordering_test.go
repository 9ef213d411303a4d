package cloudlink

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/store"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestRevisionKeptAndForgotten: a command that ran makes its iat its entity's revision,
// a refused one leaves none, an older command is refused stale without running, and
// the revision (a revoked courier's tombstone) is forgotten once every older command
// has expired: MaxLifetime after it, and CommandGrace more
// (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestRevisionKeptAndForgotten(t *testing.T) {
	f := newStation(t)
	h := &commandHandler{st: f.st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	t0 := f.clock.Now().Unix()
	command := func(body protocol.Body, iat int64) *protocol.Command {
		return &protocol.Command{Claims: protocol.Claims{Jti: "x", Typ: body.Type(), Iat: iat, Exp: iat + 3600}, Parsed: body}
	}
	revision := func(key string) (int64, bool) {
		t.Helper()
		var rev int64
		var ok bool
		if err := f.st.ViewCommands(func(log store.CommandReader) error {
			var err error
			rev, ok, err = log.Revision(key)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return rev, ok
	}

	code := protocol.Digest{1}
	if r := h.Handle(ctx, command(&protocol.SetVerifierBody{Parcel: "p-1", CodeVerifier: &code}, t0)); r.Reason != protocol.ReasonNotFound {
		t.Fatalf("set-verifier of an unknown parcel: %+v", r)
	}
	if _, ok := revision(parcelKey("p-1")); ok {
		t.Fatal("a refused command left a revision: a later-delivered older announce would be refused")
	}

	if r := h.Handle(ctx, command(&protocol.CourierRevokeBody{Courier: "c-1"}, t0)); r.Status != protocol.StatusDone {
		t.Fatalf("revoke: %+v", r)
	}
	if rev, ok := revision("c/" + f.st.SubjectKey("c-1")); !ok || rev != t0 {
		t.Fatalf("the revoke's tombstone: %d %v", rev, ok)
	}
	upsert := &protocol.CourierUpsertBody{Courier: "c-1", Badge: protocol.Digest{2}, Verifier: protocol.Digest{3}, Rights: []protocol.Right{protocol.RightDeposit}}
	if r := h.Handle(ctx, command(upsert, t0-1)); r.Reason != protocol.ReasonStale {
		t.Fatalf("an older upsert: %+v", r)
	}
	evs, err := f.st.AuditRange(1, math.MaxUint64, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == locker.EvCourierUpserted {
			t.Fatal("the older upsert ran")
		}
	}

	f.clock.advance(protocol.MaxLifetime + store.CommandGrace - time.Minute)
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	if _, ok := revision("c/" + f.st.SubjectKey("c-1")); !ok {
		t.Fatal("the tombstone went while an older command could still be valid")
	}
	f.clock.advance(2 * time.Minute)
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	if _, ok := revision("c/" + f.st.SubjectKey("c-1")); ok {
		t.Fatal("the tombstone is kept past every older command's expiry")
	}
}

// TestClockForwardThenBack: the device clock pushed 30 days forward and ticked there,
// then set back, forgets neither a command id nor a revision early: the newest command
// iat seen bounds the log's housekeeping (store.IssuedSkew), so a redelivered command
// is answered from the log, not run again, and an older upsert after a revoke is still
// stale. A command issued later, by the cloud's clock, lets the log forget what has
// expired by it (docs/adr/0055-command-ordering-and-jti-reuse.md).
func TestClockForwardThenBack(t *testing.T) {
	f := newStation(t)
	log := commandLog{f.st}
	h := &commandHandler{st: f.st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	now := f.clock.Now().Truncate(time.Second)
	digest := make([]byte, store.CommandDigestSize)
	if prior, err := log.BeginDigest("cmd-1", now, now.Add(time.Hour), digest); err != nil || prior != nil {
		t.Fatalf("new id: %+v %v", prior, err)
	}
	if err := log.Finish("cmd-1", reply("cmd-1", now)); err != nil {
		t.Fatal(err)
	}
	revoke := &protocol.Command{Claims: protocol.Claims{Jti: "cmd-2", Typ: protocol.CmdCourierRevoke, Iat: now.Unix(), Exp: now.Unix() + 3600},
		Parsed: &protocol.CourierRevokeBody{Courier: "c-1"}}
	if r := h.Handle(ctx, revoke); r.Status != protocol.StatusDone {
		t.Fatalf("revoke: %+v", r)
	}

	// The link's clock (cloudlink.New wraps link.Config.Now in h.floor) reads no
	// earlier than the newest iat executed: set back a day, it reads that iat.
	if got := h.floor.after(now.Add(-24 * time.Hour)); !got.Equal(now) {
		t.Fatalf("the link's clock set back a day reads %v, want the floor %v", got, now)
	}
	if got := h.floor.after(now.Add(time.Hour)); !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("the link's clock ahead of the floor reads %v", got)
	}

	// Forward: the station's housekeeping runs 30 days ahead.
	f.clock.advance(30 * 24 * time.Hour)
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	// Back.
	f.clock.advance(-30 * 24 * time.Hour)
	if prior, err := log.BeginDigest("cmd-1", now, now.Add(time.Hour), digest); err != nil || prior == nil || prior.Status != protocol.StatusDone {
		t.Fatalf("a redelivery after the clock went forward and back: %+v %v, want the stored reply", prior, err)
	}
	upsert := &protocol.Command{Claims: protocol.Claims{Jti: "cmd-3", Typ: protocol.CmdCourierUpsert, Iat: now.Unix() - 60, Exp: now.Unix() + 3600},
		Parsed: &protocol.CourierUpsertBody{Courier: "c-1", Badge: protocol.Digest{2}, Verifier: protocol.Digest{3}, Rights: []protocol.Right{protocol.RightDeposit}}}
	if r := h.Handle(ctx, upsert); r.Reason != protocol.ReasonStale {
		t.Fatalf("an older upsert after the clock went forward and back: %+v", r)
	}

	// The cloud's clock moves on: a command issued 2 days later lets the log forget.
	later := now.Add(48 * time.Hour)
	f.clock.advance(48 * time.Hour)
	if _, err := log.BeginDigest("cmd-4", later, later.Add(time.Hour), digest); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Tick(); err != nil {
		t.Fatal(err)
	}
	if _, known, err := log.Stored("cmd-1"); err != nil || known {
		t.Fatalf("an id expired by the cloud's clock is kept: %v %v", known, err)
	}
}
