package keypad_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/driver/drivertest"
	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/keypad/keypadtest"
)

func TestSettingsCheck(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    keypad.Settings
		want []string
	}{
		{"4x4 matrix", keypad.Settings{Kind: keypad.KindMatrix, Rows: []string{"a", "b", "c", "d"}, Cols: []string{"e", "f", "g", "h"}}, nil},
		{"3x3 matrix without layout", keypad.Settings{Kind: keypad.KindMatrix, Rows: []string{"a", "b", "c"}, Cols: []string{"e", "f", "g"}},
			[]string{"p.layout: required unless the keypad is 4x4 (the default layout is 123A 456B 789C *0#D)"}},
		{"strange key", keypad.Settings{Kind: keypad.KindMatrix, Rows: []string{"a"}, Cols: []string{"e", "f"}, Layout: []string{"1E"}},
			[]string{"p.layout[0]: keys are 0-9, *, # and A-D, not 'E'"}},
		{"wiegand with rows", keypad.Settings{Kind: keypad.KindWiegand, D0: "x", D1: "y", Rows: []string{"a"}},
			[]string{"p: a wiegand keypad has d0 and d1, not rows, cols, layout or debounce"}},
		{"rfid", keypad.Settings{Kind: "rfid"}, []string{`p.kind: must be matrix or wiegand, not "rfid"`}},
	} {
		var c drivertest.Check
		tt.s.Check(&c, "p")
		if !slices.Equal(c.Fails, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, c.Fails, tt.want)
		}
	}
}

func TestSettingsOpen(t *testing.T) {
	var env drivertest.Env
	if _, err := (keypad.Settings{Name: "pad", Kind: "rfid"}).Open(env.Env()); !driver.IsRefused(err) {
		t.Fatalf("unknown kind: %v, want a refused config", err)
	}
	w := keypadtest.NewWiegand(4)
	env.Pins = w.ByName
	if _, err := (keypad.Settings{Name: "pad", Kind: keypad.KindWiegand, D0: "D0", D1: "nowhere"}).Open(env.Env()); err == nil || driver.IsRefused(err) {
		t.Fatalf("missing line: %v, want a failed driver", err)
	}
	l, err := keypad.Settings{Name: "pad", Kind: keypad.KindWiegand, D0: "D0", D1: "D1"}.Open(env.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Input || !slices.Equal(env.Health(), []string{"ok"}) {
		t.Fatalf("%+v, health %q", l, env.Health())
	}
	// One key, sent again until it arrives: the fake loses no bit (it is paced by the
	// driver), but Open uses the real 15 ms FrameGap, which a stall on a loaded machine
	// can exceed mid-burst, and a short burst is no key (TestWiegand covers the decoding).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.BitGap = 5 * time.Millisecond
	for len(env.Inputs()) == 0 {
		if err := w.Type(ctx, "4", 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range env.Inputs() {
		if in.Key != '4' || in.Scan != nil {
			t.Errorf("input %+v, want key 4", in)
		}
	}
}
