package clock

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func synced(v *bool) Synced { return func() (bool, error) { return *v, nil } }

func kinds(cs []Change) []Kind {
	var k []Kind
	for _, c := range cs {
		k = append(k, c.Kind)
	}
	return k
}

// Without an anchor the station's clock never reads earlier than the floor advanced
// by the monotonic clock, so durations go on during a 1970 boot.
func TestNowNeverBeforeFloor(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ok := false
	tr := New(f, synced(&ok), DefaultPolicy())
	tr.RaiseFloor(t0)
	f.Advance(time.Hour)
	if got := tr.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Now %v, want the floor plus an hour", got)
	}
	st, ch := tr.Observe()
	if st.Trusted || len(ch) != 1 || ch[0].Kind != KindUntrusted {
		t.Fatalf("unsynced 1970: %+v %v", st, kinds(ch))
	}
	if _, ch := tr.Observe(); len(ch) != 0 {
		t.Fatalf("untrusted reported again: %v", kinds(ch))
	}
}

// Anchored, the trusted time follows the monotonic clock: a step of the wall clock is
// reported once and not followed, and a time service still saying "synchronised"
// does not make it followed.
func TestStepNotFollowed(t *testing.T) {
	f := NewFake(t0)
	ok := true
	tr := New(f, synced(&ok), DefaultPolicy())
	if st, _ := tr.Observe(); !st.Trusted || st.Source != SourceSync {
		t.Fatalf("synced: %+v", st)
	}
	f.Step(365 * 24 * time.Hour)
	f.Advance(time.Minute)
	st, ch := tr.Observe()
	if !st.Trusted || !st.Now.Equal(t0.Add(time.Minute)) || len(ch) != 2 || ch[0].Kind != KindStep || ch[1].Kind != KindHeld {
		t.Fatalf("after the jump: %+v %v", st, kinds(ch))
	}
	if tr.Floor().After(t0.Add(time.Minute)) {
		t.Fatalf("floor %v followed the jump", tr.Floor())
	}
	f.Step(-365 * 24 * time.Hour) // the wall clock is put right
	if st, ch := tr.Observe(); !st.Trusted || len(ch) != 2 || ch[1].Kind != KindTrusted {
		t.Fatalf("after the fix: %+v %v", st, kinds(ch))
	}
}

// A time command sets the trusted time when the wall clock is far off; the same
// command again, or an older one, is refused and changes nothing.
func TestTimeCommand(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	ok := false
	tr := New(f, synced(&ok), DefaultPolicy())
	tr.RaiseFloor(t0)
	f.Advance(time.Hour)
	cloud := t0.Add(50 * time.Hour)
	ch, err := tr.Confirm(cloud, true)
	if err != nil || len(ch) != 1 || ch[0].Kind != KindSet {
		t.Fatalf("time command: %v %v", kinds(ch), err)
	}
	f.Advance(time.Minute)
	if st, _ := tr.Observe(); !st.Trusted || !st.Now.Equal(cloud.Add(time.Minute)) || st.Source != SourceTime {
		t.Fatalf("after the time command: %+v", st)
	}
	if _, err := tr.Confirm(cloud, true); !errors.Is(err, ErrStale) {
		t.Fatalf("replayed time command: %v", err)
	}
	if _, err := tr.Confirm(cloud.Add(-time.Hour), true); !errors.Is(err, ErrStale) {
		t.Fatalf("older time command: %v", err)
	}
}

// An ordinary command confirms a wall clock it agrees with, and does not set one it
// disagrees with (its iat may be days old: commands wait in queues).
func TestCommandConfirms(t *testing.T) {
	f := NewFake(t0)
	ok := false
	tr := New(f, synced(&ok), DefaultPolicy())
	if ch, _ := tr.Confirm(t0.Add(-3*24*time.Hour), false); len(ch) != 0 {
		t.Fatalf("an old iat changed the trust: %v", kinds(ch))
	}
	if st, _ := tr.Observe(); st.Trusted {
		t.Fatal("trusted on an old iat")
	}
	if ch, _ := tr.Confirm(t0.Add(-time.Minute), false); len(ch) != 1 || ch[0].Kind != KindTrusted {
		t.Fatalf("a fresh iat: %v", kinds(ch))
	}
	if st, _ := tr.Observe(); !st.Trusted || st.Source != SourceCommand {
		t.Fatalf("after a fresh iat: %+v", st)
	}
}

// The first anchor after provisional readings reports how far it moved the station's
// clock forward, once, with the first provisional reading; a small move reports
// nothing.
func TestCorrection(t *testing.T) {
	saved := t0.Add(-72 * time.Hour) // fake-hwclock: three days behind
	f := NewFake(saved)
	ok := false
	tr := New(f, synced(&ok), DefaultPolicy())
	first := tr.Now()
	f.Advance(time.Hour)
	tr.Now()
	f.Set(t0.Add(time.Hour)) // NTP steps the clock
	ok = true
	if st, _ := tr.Observe(); !st.Trusted {
		t.Fatalf("not trusted after the sync: %+v", st)
	}
	by, since := tr.TakeCorrection()
	if by != 72*time.Hour || !since.Equal(first) {
		t.Fatalf("correction %v since %v, want 72h since %v", by, since, first)
	}
	if by, _ := tr.TakeCorrection(); by != 0 {
		t.Fatalf("correction reported twice: %v", by)
	}

	f2 := NewFake(t0)
	tr2 := New(f2, synced(&ok), DefaultPolicy())
	tr2.Now()
	f2.Step(time.Minute)
	tr2.Observe()
	if by, _ := tr2.TakeCorrection(); by != 0 {
		t.Fatalf("a one-minute step reported as a correction: %v", by)
	}
}

// The build's time comes from the Makefile's stamp.
func TestBuildTime(t *testing.T) {
	saved := buildEpoch
	defer func() { buildEpoch = saved }()
	buildEpoch = "1796591014"
	if got := BuildTime(); !got.Equal(time.Unix(1796591014, 0)) {
		t.Fatalf("BuildTime %v", got)
	}
}
