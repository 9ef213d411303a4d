package eventlog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/store"
)

// memLog is an audit chain in memory: payload i has sequence number i+1.
type memLog [][]byte

func (l memLog) AuditRange(from, to uint64, fn func(uint64, []byte) bool) error {
	for seq := max(from, 1); seq <= min(to, uint64(len(l))); seq++ {
		if !fn(seq, l[seq-1]) {
			break
		}
	}
	return nil
}

func (l memLog) AuditBackward(fn func(uint64, []byte) bool) error {
	for i := len(l) - 1; i >= 0 && fn(uint64(i+1), l[i]); i-- {
	}
	return nil
}

func (l memLog) Wire(func([]byte) (bool, error)) store.Wire { return nil }

func logOf(t *testing.T, evs ...model.Event) memLog {
	var l memLog
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		l = append(l, b)
	}
	return l
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRange(t *testing.T) {
	l := logOf(t, model.Event{Type: model.EvStarted, Seq: 1}, model.Event{Type: model.EvReserved, Seq: 2},
		model.Event{Type: model.EvUnlocked, Seq: 3})
	evs, err := Range(l, 2, 3, 10)
	if err != nil || len(evs) != 2 || evs[0].Type != model.EvReserved || evs[1].Type != model.EvUnlocked {
		t.Fatalf("2..3: %+v, %v", evs, err)
	}
	if evs, _ := Range(l, 1, 3, 1); len(evs) != 1 {
		t.Errorf("max 1: %d events", len(evs))
	}
	l = append(l, []byte("{not json"))
	if _, err := Range(l, 1, 4, 10); err == nil {
		t.Error("an undecodable entry passed silently")
	}
}

// TestRemoteOpensSince: operators' reservations in the window count, oldest first;
// those before it do not, a later entry with an earlier time (a clock stepped back)
// is read past, and an unreadable entry counts as an opening now, with an error.
func TestRemoteOpensSince(t *testing.T) {
	since := t0.Add(-time.Hour)
	op := func(at time.Time) model.Event {
		return model.Event{Type: model.EvReserved, Op: model.OpOperator, At: at}
	}
	l := logOf(t,
		op(since.Add(-2*time.Hour)),   // far before: ends the scan
		op(since.Add(-time.Minute)),   // before the window: not counted
		op(since.Add(10*time.Minute)), // counted
		model.Event{Type: model.EvReserved, Op: model.OpPickup, At: since.Add(20 * time.Minute)}, // not an operator's
		op(since.Add(5*time.Minute)),   // after a step back: counted
		op(since.Add(-30*time.Minute)), // stepped back, before the window
	)
	got, err := RemoteOpensSince(l, since, func() time.Time { return t0 })
	if err != nil || len(got) != 2 || !got[0].Equal(since.Add(5*time.Minute)) || !got[1].Equal(since.Add(10*time.Minute)) {
		t.Fatalf("openings %v, err %v", got, err)
	}
	l = append(l, []byte("{"))
	got, err = RemoteOpensSince(l, since, func() time.Time { return t0 })
	if err == nil || !strings.Contains(err.Error(), "audit entry 7") || len(got) != 3 || !got[2].Equal(t0) {
		t.Fatalf("with an unreadable entry: %v, %v", got, err)
	}
}

func TestReport(t *testing.T) {
	report := []byte(`{"ok":true}`)
	e, err := Report(EvHealth, "lockerd", report)
	if err != nil || e.Type != EvHealth || e.Actor != "lockerd" || string(e.Report) != string(report) {
		t.Fatalf("%+v, %v", e, err)
	}
	report[0] = 'x'
	if e.Report[0] != '{' {
		t.Error("the event shares the caller's report")
	}
	for name, tc := range map[string]struct {
		typ    model.EventType
		actor  string
		report []byte
	}{
		"station event": {model.EvPickedUp, "x", []byte(`{}`)},
		"not json":      {EvHardware, "x", []byte(`{`)},
		"oversized":     {EvUpdate, "x", []byte(`"` + strings.Repeat("a", maxReport) + `"`)},
		"long actor":    {EvHealth, strings.Repeat("a", 65), []byte(`{}`)},
	} {
		if _, err := Report(tc.typ, tc.actor, tc.report); !errors.Is(err, ErrReport) {
			t.Errorf("%s: %v, want ErrReport", name, err)
		}
	}
}
