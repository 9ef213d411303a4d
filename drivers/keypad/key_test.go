package keypad_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
)

func TestDecodeWiegand(t *testing.T) {
	tests := []struct {
		name string
		bits []byte
		want keypad.Key
		err  bool
	}{
		{"4-bit 0", []byte{0, 0, 0, 0}, '0', false},
		{"4-bit 9", []byte{1, 0, 0, 1}, '9', false},
		{"4-bit star", []byte{1, 0, 1, 0}, '*', false},
		{"4-bit hash", []byte{1, 0, 1, 1}, '#', false},
		{"8-bit 1 (E1)", []byte{1, 1, 1, 0, 0, 0, 0, 1}, '1', false},
		{"8-bit hash (4B)", []byte{0, 1, 0, 0, 1, 0, 1, 1}, '#', false},
		{"8-bit bad complement", []byte{1, 1, 1, 1, 0, 0, 0, 1}, 0, true},
		{"4-bit code 12", []byte{1, 1, 0, 0}, 0, true},
		{"26-bit card frame", make([]byte, 26), 0, true},
		{"empty", nil, 0, true},
		{"three bits", []byte{1, 0, 1}, 0, true},
		{"not a bit", []byte{0, 2, 0, 0}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := keypad.DecodeWiegand(tt.bits)
			if tt.err {
				if !errors.Is(err, keypad.ErrFrame) {
					t.Errorf("err = %v, want ErrFrame", err)
				}
				return
			}
			if err != nil || k != tt.want {
				t.Errorf("DecodeWiegand = %q, %v; want %q", k, err, tt.want)
			}
		})
	}
}

func TestEncodeWiegandRoundTrip(t *testing.T) {
	for _, mode := range []int{4, 8} {
		for _, k := range []byte("0123456789*#") {
			bits, err := keypad.EncodeWiegand(keypad.Key(k), mode)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := keypad.DecodeWiegand(bits); err != nil || got != keypad.Key(k) || len(bits) != mode {
				t.Errorf("mode %d key %c: %v -> %q, %v", mode, k, bits, got, err)
			}
		}
	}
	if _, err := keypad.EncodeWiegand('A', 4); err == nil {
		t.Error("encoded A, which Wiegand keypads cannot send")
	}
	if _, err := keypad.EncodeWiegand('1', 26); err == nil {
		t.Error("encoded in mode 26")
	}
}

func FuzzDecodeWiegand(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1})
	f.Add([]byte{1, 1, 1, 0, 0, 0, 0, 1})
	f.Add(make([]byte, 26))
	f.Fuzz(func(t *testing.T, bits []byte) {
		k, err := keypad.DecodeWiegand(bits)
		if err != nil {
			if !errors.Is(err, keypad.ErrFrame) {
				t.Fatalf("error %v is not ErrFrame", err)
			}
			return
		}
		again, err := keypad.EncodeWiegand(k, len(bits))
		if err != nil || !bytes.Equal(again, bits) {
			t.Fatalf("key %q from %v re-encodes to %v, %v", k, bits, again, err)
		}
	})
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestEntry(t *testing.T) {
	type press struct {
		at  time.Duration
		key byte
	}
	typed := func(keys string) []press {
		var p []press
		for i, k := range []byte(keys) {
			p = append(p, press{time.Duration(i) * 300 * time.Millisecond, k})
		}
		return p
	}
	tests := []struct {
		name  string
		cfg   keypad.EntryConfig
		keys  []press
		codes []string
		stats keypad.EntryStats
	}{
		{"six digits", keypad.EntryConfig{}, typed("482133#"), []string{"482133"}, keypad.EntryStats{Codes: 1}},
		{"eight digits", keypad.EntryConfig{}, typed("48213377#"), []string{"48213377"}, keypad.EntryStats{Codes: 1}},
		{"clear restarts", keypad.EntryConfig{}, typed("99*482133#"), []string{"482133"}, keypad.EntryStats{Codes: 1, Cleared: 1}},
		{"too short", keypad.EntryConfig{}, typed("12345#"), nil, keypad.EntryStats{TooShort: 1}},
		{"ninth digit ignored", keypad.EntryConfig{}, typed("123456789#"), []string{"12345678"}, keypad.EntryStats{Codes: 1, Overflow: 1}},
		{"letters ignored", keypad.EntryConfig{}, typed("12A3456#"), []string{"123456"}, keypad.EntryStats{Codes: 1}},
		{"enter alone", keypad.EntryConfig{}, typed("#*#"), nil, keypad.EntryStats{}},
		{"two codes", keypad.EntryConfig{}, typed("111111#222222#"), []string{"111111", "222222"}, keypad.EntryStats{Codes: 2}},
		{"partial entry times out", keypad.EntryConfig{Timeout: 5 * time.Second},
			[]press{{0, '4'}, {time.Second, '8'}, {7 * time.Second, '2'}, {8 * time.Second, '#'}}, nil,
			keypad.EntryStats{TimedOut: 1, TooShort: 1}},
		{"short codes allowed by config", keypad.EntryConfig{MinDigits: 4, MaxDigits: 4}, typed("1234#"), []string{"1234"}, keypad.EntryStats{Codes: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := keypad.NewEntry(tt.cfg)
			var codes []string
			for _, p := range tt.keys {
				if code, ok := e.Press(keypad.Key(p.key), t0.Add(p.at)); ok {
					codes = append(codes, string(code))
				}
			}
			if len(codes) != len(tt.codes) {
				t.Fatalf("got %d codes, want %d", len(codes), len(tt.codes))
			}
			for i := range codes {
				if codes[i] != tt.codes[i] {
					t.Errorf("code %d = %q, want %q", i, codes[i], tt.codes[i])
				}
			}
			if e.Stats() != tt.stats {
				t.Errorf("stats %+v, want %+v", e.Stats(), tt.stats)
			}
			if e.Len() != 0 {
				t.Errorf("%d digits left pending", e.Len())
			}
		})
	}
}

func FuzzEntry(f *testing.F) {
	f.Add([]byte("48213377#"), uint8(6), uint8(8))
	f.Add([]byte("1*2#345678901#"), uint8(4), uint8(6))
	f.Fuzz(func(t *testing.T, keys []byte, lo, hi uint8) {
		cfg := keypad.EntryConfig{MinDigits: int(lo % 12), MaxDigits: int(hi % 12)}
		e := keypad.NewEntry(cfg)
		now := t0
		for _, k := range keys {
			now = now.Add(time.Duration(k) * 50 * time.Millisecond)
			code, ok := e.Press(keypad.Key(k), now)
			if !ok {
				continue
			}
			if len(code) == 0 || len(code) > max(cfg.MaxDigits, cfg.MinDigits, 8) {
				t.Fatalf("code of %d digits", len(code))
			}
			for _, c := range code {
				if c < '0' || c > '9' {
					t.Fatal("code with a non-digit")
				}
			}
		}
	})
}

func TestCollector(t *testing.T) {
	codes := make(chan string, 4)
	c := keypad.NewCollector(keypad.EntryConfig{Timeout: 50 * time.Millisecond}, func(code []byte) {
		codes <- string(code)
		clear(code)
	})
	defer c.Close()
	for _, k := range []byte("482133#") {
		c.Key(keypad.Key(k))
	}
	select {
	case got := <-codes:
		if got != "482133" {
			t.Errorf("code %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no code")
	}
	c.Key('1')
	c.Key('2')
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().TimedOut == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling a counter, bounded by the deadline
	}
	if st := c.Stats(); st.TimedOut != 1 || c.Len() != 0 {
		t.Errorf("stats %+v, %d pending: want the partial entry timed out", st, c.Len())
	}
}
