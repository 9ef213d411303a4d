package locker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestJournalNamesNoOneAtInfo runs a courier's day at the default log level (what
// journald keeps): a courier upsert, login, a deposit, a cancelled deposit, a
// retrieval, a pickup and an operator's resolve. The log has a line per event, and no
// courier's or operator's id anywhere; at debug the ids are there (the test can fail).
func TestJournalNamesNoOneAtInfo(t *testing.T) {
	const courier, operator = "COURIER-JX81", "OPERATOR-QZ55"
	run := func(level slog.Level) string {
		f := newFixture(t, mixedSpecs())
		var buf bytes.Buffer
		f.opt.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
		f.st.log = f.opt.Logger // and after the restart below
		f.announce("p-1", "RB123456785GB", "48213377", SizeS)
		f.announce("p-2", "RB987654326GB", "", SizeS)
		sid := f.courier(courier, "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
		f.deposit(sid, "RB123456785GB")
		f.clock.Advance(2e9) // out of the repeat-scan window
		if _, err := f.st.Scan(ctx, sid, "RB987654326GB", SizeUnknown); err != nil {
			t.Fatal(err)
		}
		if err := f.st.Cancel(ctx, sid); err != nil {
			t.Fatal(err)
		}
		f.st.Logout(sid)
		p, err := f.st.EnterCode(ctx, "48213377", testPhone)
		if err != nil || len(p.Slots) != 1 {
			t.Fatal(p, err)
		}
		f.openClose(p.Slots[0].Compartment)
		sid = f.courier(courier, "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true, Retrieve: true})
		f.clock.Advance(f.st.Policy().DuplicateScanWindow + 1e9)
		slot, err := f.st.Scan(ctx, sid, "RB987654326GB", SizeUnknown)
		if err != nil {
			t.Fatal(err)
		}
		f.restart() // the door was never seen: the deposit is unverified
		if err := f.st.Resolve(ctx, slot.Compartment, false, operator, "looked inside"); err != nil {
			t.Fatal(err)
		}
		if err := f.st.RevokeCourier(ctx, courier); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	info := run(slog.LevelInfo)
	for _, want := range []string{`"type":"deposited"`, `"type":"picked_up"`, `"type":"courier_revoked"`} {
		if !strings.Contains(info, want) {
			t.Errorf("no %s line at info:\n%s", want, info)
		}
	}
	for _, name := range []string{courier, operator} {
		if strings.Contains(info, name) {
			t.Errorf("the info log names %s:\n%s", name, info)
		}
	}
	debug := run(slog.LevelDebug)
	if !strings.Contains(debug, courier) || !strings.Contains(debug, operator) {
		t.Errorf("the debug log lost who did what:\n%s", debug)
	}
}
