package session

import (
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestSessions: a session lives while it is used within the idle time, ends on its
// courier's revocation, and the timer ends the idle ones.
func TestSessions(t *testing.T) {
	const idle = 5 * time.Minute
	m := Sessions{}
	m.Open("s1", courier.Courier{ID: "c1"}, t0)
	m.Open("s2", courier.Courier{ID: "c2"}, t0)
	m.Open("s3", courier.Courier{ID: "c1"}, t0)
	if se, ok := m.Active("s1", t0.Add(idle), idle); !ok || se.Courier.ID != "c1" {
		t.Fatalf("s1 used at the idle limit: %v %v", se, ok)
	}
	if _, ok := m.Active("s2", t0.Add(idle+time.Second), idle); ok || m["s2"] != nil {
		t.Error("s2 used after its idle time: still open")
	}
	m.EndCourier("c1")
	if len(m) != 0 {
		t.Errorf("after revoking c1: %d sessions, want 0", len(m))
	}
	m.Open("s4", courier.Courier{ID: "c3"}, t0)
	m.Open("s5", courier.Courier{ID: "c3"}, t0.Add(time.Minute))
	m.Expire(t0.Add(idle+30*time.Second), idle)
	if m["s4"] != nil || m["s5"] == nil {
		t.Errorf("expire: s4 %v (want gone), s5 %v (want kept)", m["s4"], m["s5"])
	}
}

// TestHandovers: a handover waits until its time, ends with its last parcel, and its
// id is not guessable from another's.
func TestHandovers(t *testing.T) {
	m := Handovers{}
	id := m.Start([]model.ParcelID{"p1", "p2"}, t0.Add(time.Minute))
	other := m.Start([]model.ParcelID{"p3"}, t0.Add(time.Second))
	if id == other || len(id) < 20 {
		t.Fatalf("handover ids %q, %q", id, other)
	}
	if m.Waiting(id, t0.Add(time.Minute)) == nil || m.Waiting(other, t0.Add(2*time.Second)) != nil {
		t.Error("waiting: the first must wait at its limit, the second not past its own")
	}
	m.Done(id, "p1")
	if h := m.Waiting(id, t0); h == nil || len(h.Parcels) != 1 || h.Parcels[0] != "p2" {
		t.Fatalf("after p1: %+v", h)
	}
	m.Done(id, "p2")
	if m[id] != nil {
		t.Error("handover with no parcel left still waits")
	}
	m.Expire(t0.Add(2 * time.Second))
	if len(m) != 0 {
		t.Errorf("lapsed handover kept: %v", m)
	}
}

// TestScans: a repeat within the window is recent, at the window it is not, and the
// timer forgets it then.
func TestScans(t *testing.T) {
	const window = 10 * time.Second
	m := Scans{}
	var d privacy.Digest
	d[0] = 1
	m[d] = t0
	if !m.Recent(d, t0.Add(window-time.Nanosecond), window) || m.Recent(d, t0.Add(window), window) {
		t.Error("recent: want true just inside the window, false at its end")
	}
	m.Expire(t0.Add(window-time.Second), window)
	if len(m) != 1 {
		t.Error("scan forgotten inside its window")
	}
	m.Expire(t0.Add(window), window)
	if len(m) != 0 {
		t.Error("scan kept past its window")
	}
}

// TestHolds: changes are held while any unlock of the door is under way, the last
// unlock's end releases them in order, and another door is not held.
func TestHolds(t *testing.T) {
	m := Holds{}
	a := m.Begin(1)
	b := m.Begin(1)
	if a != b || m.Held(2, true) {
		t.Fatal("two unlocks of one door share a hold; another door is not held")
	}
	if !m.Held(1, true) || !m.Held(1, false) || !a.Opened() {
		t.Fatal("changes of a door being unlocked not held")
	}
	if m.End(1, a) {
		t.Fatal("first of two unlocks ended the hold")
	}
	if !m.End(1, b) || m.Held(1, true) || len(m) != 0 {
		t.Fatal("the last unlock did not end the hold")
	}
	if got := b.Changes(); len(got) != 2 || !got[0] || got[1] {
		t.Errorf("held changes %v, want [true false]", got)
	}
	var none *Hold
	if none.Opened() {
		t.Error("no hold reports an opening")
	}
}

// TestUnsettled: an operation left for its sensor is recognised only while it is the
// same operation, and is overdue only once the wait has passed.
func TestUnsettled(t *testing.T) {
	var u Unsettled
	if u.Overdue(t0.Add(time.Hour), time.Minute) != nil {
		t.Fatal("nothing left, yet overdue")
	}
	c := &model.Compartment{ID: 4, Op: model.OpPickup, OpSince: t0.Add(-time.Minute)}
	u.Leave(4, c.OpSince, t0)
	if !u.Is(c) {
		t.Fatal("the operation left is not recognised")
	}
	if later := (&model.Compartment{ID: 4, Op: model.OpPickup, OpSince: t0}); u.Is(later) {
		t.Error("a later operation at the same door taken for the one left")
	}
	if ids := u.Overdue(t0.Add(4*time.Minute), 5*time.Minute); ids != nil {
		t.Errorf("overdue before the wait: %v", ids)
	}
	if ids := u.Overdue(t0.Add(5*time.Minute), 5*time.Minute); len(ids) != 1 || ids[0] != 4 {
		t.Errorf("overdue at the wait: %v", ids)
	}
	u.Done(4)
	if u.Is(c) || u.Overdue(t0.Add(time.Hour), time.Minute) != nil {
		t.Error("done, still left")
	}
}
