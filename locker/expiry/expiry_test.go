package expiry

import (
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/policy"
	"github.com/lockerd/lockerd/locker/store"
)

// fakeStation keeps parcels in memory and derives each time index from them, as the
// store does (a row per parcel in the state the timer waits on), plus leftover rows a
// test adds; a transition works on a copy that replaces the committed state only when
// its function returns nil.
type fakeStation struct {
	now     time.Time
	parcels map[model.ParcelID]*model.Parcel
	extra   map[store.Timer][]store.Due // rows no parcel state explains (leftovers)
	commits int
}

func newStation(now time.Time) *fakeStation {
	return &fakeStation{now: now, parcels: map[model.ParcelID]*model.Parcel{}, extra: map[store.Timer][]store.Due{}}
}

func (s *fakeStation) Due(timer store.Timer, until time.Time, max int) ([]store.Due, error) {
	type row struct {
		at  time.Time
		due store.Due
	}
	var rows []row
	for _, p := range s.parcels {
		if at := deadline(p, timer); at != nil && !at.IsZero() && !at.After(until) {
			rows = append(rows, row{*at, store.Due{Parcel: string(p.ID), Key: []byte(p.ID)}})
		}
	}
	slices.SortFunc(rows, func(a, b row) int { return a.at.Compare(b.at) })
	var out []store.Due
	for _, r := range rows {
		out = append(out, r.due)
	}
	out = append(out, s.extra[timer]...)
	return out[:min(len(out), max)], nil
}

func (s *fakeStation) Update(fn func(Tx) error) error {
	t := &fakeTx{s: s, parcels: maps.Clone(s.parcels), extra: maps.Clone(s.extra)}
	if err := fn(t); err != nil {
		return err
	}
	s.parcels, s.extra = t.parcels, t.extra
	s.commits++
	return nil
}

type fakeTx struct {
	s       *fakeStation
	parcels map[model.ParcelID]*model.Parcel
	extra   map[store.Timer][]store.Due
	events  []model.Event
}

func (t *fakeTx) Now() time.Time         { return t.s.now }
func (t *fakeTx) Policy() *policy.Policy { p := policy.Default(); return &p }
func (t *fakeTx) Emit(e model.Event) error {
	t.events = append(t.events, e)
	return nil
}
func (t *fakeTx) Parcel(id model.ParcelID) (*model.Parcel, error) {
	p, ok := t.parcels[id]
	if !ok {
		return nil, store.ErrUnknownParcel
	}
	c := *p
	return &c, nil
}
func (t *fakeTx) PutParcel(old, p *model.Parcel) error {
	if p == nil {
		delete(t.parcels, old.ID)
		return nil
	}
	p.Updated = t.s.now
	t.parcels[p.ID] = p
	return nil
}
func (t *fakeTx) PutMeta(store.Meta, any) error { return nil }
func (t *fakeTx) DeleteDue(timer store.Timer, row store.Due) error {
	t.extra[timer] = slices.DeleteFunc(slices.Clone(t.extra[timer]), func(d store.Due) bool { return d.Parcel == row.Parcel })
	return nil
}

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	discard = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// TestSweep: each timer acts on what is due and nothing else; a leftover row goes
// without touching a record; a pass with nothing due writes nothing.
func TestSweep(t *testing.T) {
	s := newStation(t0)
	s.parcels["dep-due"] = &model.Parcel{ID: "dep-due", State: model.StateDeposited, Compartment: 2, ExpiresAt: t0.Add(-time.Minute)}
	s.parcels["dep-later"] = &model.Parcel{ID: "dep-later", State: model.StateDeposited, Compartment: 3, ExpiresAt: t0.Add(time.Hour)}
	s.parcels["ann-due"] = &model.Parcel{ID: "ann-due", State: model.StateAnnounced, KeepUntil: t0.Add(-time.Minute)}
	s.parcels["ann-in-door"] = &model.Parcel{ID: "ann-in-door", State: model.StateAnnounced, Compartment: 4, KeepUntil: t0.Add(-time.Minute)}
	s.parcels["gone"] = &model.Parcel{ID: "gone", State: model.StatePickedUp, PurgeAt: t0.Add(-time.Minute)}
	s.extra[store.TimerExpiry] = []store.Due{{Parcel: "missing"}}

	purged, err := Sweep(s, t0, discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.parcels["dep-due"].State; got != model.StateExpired {
		t.Errorf("due deposit: %s, want expired", got)
	}
	if got := s.parcels["dep-later"].State; got != model.StateDeposited {
		t.Errorf("deposit not yet due: %s, want deposited", got)
	}
	if p := s.parcels["ann-due"]; p.State != model.StateCancelled || !p.PurgeAt.Equal(t0.Add(policy.Default().PurgeAfter)) {
		t.Errorf("announcement never deposited: %s, purge at %v", p.State, p.PurgeAt)
	}
	if got := s.parcels["ann-in-door"].State; got != model.StateAnnounced {
		t.Errorf("announcement whose deposit is under way: %s, want announced (its door decides)", got)
	}
	if _, ok := s.parcels["gone"]; ok || purged != 1 {
		t.Errorf("terminal record: still there %v, purged %d", ok, purged)
	}
	if len(s.extra[store.TimerExpiry]) != 0 {
		t.Errorf("row naming no record kept: %v", s.extra[store.TimerExpiry])
	}
	if s.commits != 3 {
		t.Errorf("%d commits, want one per step that changed something (3)", s.commits)
	}
	n := s.commits
	if _, err := Sweep(s, t0, discard); err != nil || s.commits != n {
		t.Errorf("second pass: err %v, %d commits, want none: nothing is due but a deposit under way", err, s.commits-n)
	}
}

// TestSweepBounded: a backlog is worked off MaxPerTick records per pass.
func TestSweepBounded(t *testing.T) {
	s := newStation(t0)
	for i := range MaxPerTick + 10 {
		id := model.ParcelID(string(rune('a'+i%26)) + time.Duration(i).String())
		s.parcels[id] = &model.Parcel{ID: id, State: model.StatePickedUp, PurgeAt: t0.Add(-time.Duration(i+1) * time.Second)}
	}
	if purged, err := Sweep(s, t0, discard); err != nil || purged != MaxPerTick || len(s.parcels) != 10 {
		t.Fatalf("first pass: purged %d, %d left, err %v; want %d, 10", purged, len(s.parcels), err, MaxPerTick)
	}
	if purged, err := Sweep(s, t0, discard); err != nil || purged != 10 || len(s.parcels) != 0 {
		t.Fatalf("second pass: purged %d, %d left, err %v", purged, len(s.parcels), err)
	}
}

// TestRebase: deadlines set at or after from move by the correction, those of
// records written before it do not, and a parcel in another state keeps its other
// deadlines.
func TestRebase(t *testing.T) {
	from, by := t0.Add(-time.Hour), 3*time.Hour
	s := newStation(t0)
	s.parcels["new"] = &model.Parcel{ID: "new", State: model.StateDeposited, Updated: from.Add(time.Minute), ExpiresAt: t0.Add(24 * time.Hour)}
	s.parcels["old"] = &model.Parcel{ID: "old", State: model.StateDeposited, Updated: from.Add(-time.Minute), ExpiresAt: t0.Add(24 * time.Hour)}
	s.parcels["past"] = &model.Parcel{ID: "past", State: model.StateDeposited, Updated: from.Add(time.Minute), ExpiresAt: from.Add(-time.Minute)}
	s.parcels["ann"] = &model.Parcel{ID: "ann", State: model.StateAnnounced, Updated: from, KeepUntil: t0.Add(time.Hour),
		ExpiresAt: t0.Add(time.Hour)}
	moved, err := Rebase(s, from, by)
	if err != nil || moved != 2 {
		t.Fatalf("moved %d, err %v; want 2", moved, err)
	}
	for id, want := range map[model.ParcelID]time.Time{"new": t0.Add(24*time.Hour + by), "old": t0.Add(24 * time.Hour), "past": from.Add(-time.Minute)} {
		if got := s.parcels[id].ExpiresAt; !got.Equal(want) {
			t.Errorf("%s expires %v, want %v", id, got, want)
		}
	}
	if p := s.parcels["ann"]; !p.KeepUntil.Equal(t0.Add(time.Hour+by)) || !p.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("announced: keep until %v, expires %v; want only the keep-until moved", p.KeepUntil, p.ExpiresAt)
	}
}

// TestSweepFails: a failing step's error names the timers and nothing commits.
func TestSweepFails(t *testing.T) {
	s := newStation(t0)
	s.parcels["dep"] = &model.Parcel{ID: "dep", State: model.StateDeposited, ExpiresAt: t0.Add(-time.Minute)}
	boom := errors.New("disk full")
	_, err := Sweep(failing{s, boom}, t0, discard)
	if !errors.Is(err, boom) || s.parcels["dep"].State != model.StateDeposited {
		t.Fatalf("err %v, state %s", err, s.parcels["dep"].State)
	}
}

// failing is a station whose transitions fail to commit (a full disk).
type failing struct {
	*fakeStation
	err error
}

func (f failing) Update(fn func(Tx) error) error {
	t := &fakeTx{s: f.fakeStation, parcels: maps.Clone(f.parcels), extra: maps.Clone(f.extra)}
	if err := fn(t); err != nil {
		return err
	}
	return f.err
}
