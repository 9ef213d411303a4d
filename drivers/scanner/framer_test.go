package scanner_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/scanner"
)

// step is bytes arriving at a time offset, or (with nil data) a read
// timeout at that offset.
type step struct {
	at   time.Duration
	data string
}

type want struct {
	code, sym string
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func runFramer(f *scanner.Framer, steps []step) []scanner.Scan {
	var out []scanner.Scan
	for _, s := range steps {
		now := t0.Add(s.at)
		if s.data == "" {
			out = append(out, f.Flush(now)...)
		} else {
			out = append(out, f.Feed(now, []byte(s.data))...)
		}
	}
	return out
}

func TestFramer(t *testing.T) {
	ms := time.Millisecond
	long := strings.Repeat("9", 600)
	tests := []struct {
		name      string
		cfg       scanner.FramerConfig
		steps     []step
		want      []want
		tooLong   uint64
		duplicate uint64
	}{
		{"CR suffix", scanner.FramerConfig{}, []step{{0, "RB123456785GB\r"}}, []want{{"RB123456785GB", ""}}, 0, 0},
		{"LF suffix", scanner.FramerConfig{}, []step{{0, "123456789012\n"}}, []want{{"123456789012", ""}}, 0, 0},
		{"CRLF is one end", scanner.FramerConfig{}, []step{{0, "A1\r\nB2\r\n"}}, []want{{"A1", ""}, {"B2", ""}}, 0, 0},
		{"CRLF split across reads", scanner.FramerConfig{}, []step{{0, "A1\r"}, {2 * ms, "\nB2\r"}}, []want{{"A1", ""}, {"B2", ""}}, 0, 0},
		{"no suffix ends on silence", scanner.FramerConfig{}, []step{{0, "7350"}, {10 * ms, "5312"}, {50 * ms, ""}, {91 * ms, ""}},
			[]want{{"73505312", ""}}, 0, 0},
		{"no suffix, next code after silence", scanner.FramerConfig{}, []step{{0, "AAA"}, {200 * ms, "BBB"}, {400 * ms, ""}},
			[]want{{"AAA", ""}, {"BBB", ""}}, 0, 0},
		{"AIM prefix stripped", scanner.FramerConfig{}, []step{{0, "]C1" + "\x1d01095011010209171719050810ABCD1234\r"}},
			[]want{{"\x1d01095011010209171719050810ABCD1234", "]C1"}}, 0, 0},
		{"QR with AIM", scanner.FramerConfig{}, []step{{0, "]Q1PICKUP:48213377\r"}}, []want{{"PICKUP:48213377", "]Q1"}}, 0, 0},
		{"GS kept inside data", scanner.FramerConfig{}, []step{{0, "0109501101020917\x1d10ABC\r"}}, []want{{"0109501101020917\x1d10ABC", ""}}, 0, 0},
		{"bracket that is not AIM kept", scanner.FramerConfig{}, []step{{0, "]1A23\r"}}, []want{{"]1A23", ""}}, 0, 0},
		{"AIM prefix alone is no scan", scanner.FramerConfig{}, []step{{0, "]C1\r"}}, nil, 0, 0},
		{"empty lines ignored", scanner.FramerConfig{}, []step{{0, "\r\r\n\n"}}, nil, 0, 0},
		{"over-long line dropped, next kept", scanner.FramerConfig{}, []step{{0, long + "\r"}, {5 * ms, "OK1\r"}}, []want{{"OK1", ""}}, 1, 0},
		{"over-long line without suffix dropped on silence", scanner.FramerConfig{MaxLen: 8}, []step{{0, "123456789012"}, {100 * ms, ""}, {200 * ms, "12345678\r"}},
			[]want{{"12345678", ""}}, 1, 0},
		{"MaxLen counts data, not the AIM prefix", scanner.FramerConfig{MaxLen: 4}, []step{{0, "]E01234\r"}, {5 * ms, "]E012345\r"}},
			[]want{{"1234", "]E0"}}, 1, 0},
		{"repeat within window dropped", scanner.FramerConfig{}, []step{{0, "X1\r"}, {1 * time.Second, "X1\r"}}, []want{{"X1", ""}}, 0, 1},
		{"repeat after window kept", scanner.FramerConfig{}, []step{{0, "X1\r"}, {1600 * ms, "X1\r"}}, []want{{"X1", ""}, {"X1", ""}}, 0, 0},
		{"held code read once", scanner.FramerConfig{},
			[]step{{0, "H\r"}, {400 * ms, "H\r"}, {800 * ms, "H\r"}, {1200 * ms, "H\r"}, {1600 * ms, "H\r"}, {2000 * ms, "H\r"}},
			[]want{{"H", ""}}, 0, 5},
		{"only the last code counts as a repeat", scanner.FramerConfig{}, []step{{0, "A\rB\rA\r"}}, []want{{"A", ""}, {"B", ""}, {"A", ""}}, 0, 0},
		{"dedup disabled", scanner.FramerConfig{DedupWindow: -1}, []step{{0, "A\rA\r"}}, []want{{"A", ""}, {"A", ""}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := scanner.NewFramer(tt.cfg)
			got := runFramer(f, tt.steps)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d scans, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				if string(got[i].Code) != w.code || got[i].Symbology != w.sym {
					// Test data are synthetic; printing them is fine.
					t.Errorf("scan %d = %q %q, want %q %q", i, got[i].Code, got[i].Symbology, w.code, w.sym)
				}
			}
			st := f.Stats()
			if st.TooLong != tt.tooLong || st.Duplicates != tt.duplicate || st.Scans != uint64(len(tt.want)) {
				t.Errorf("stats %+v, want %d too long, %d duplicates, %d scans", st, tt.tooLong, tt.duplicate, len(tt.want))
			}
		})
	}
}

func TestFramerDeadlineAndTimestamps(t *testing.T) {
	f := scanner.NewFramer(scanner.FramerConfig{Silence: 50 * time.Millisecond})
	if _, ok := f.Deadline(); ok {
		t.Fatal("deadline with nothing pending")
	}
	f.Feed(t0, []byte("12"))
	f.Feed(t0.Add(20*time.Millisecond), []byte("34"))
	d, ok := f.Deadline()
	if !ok || !d.Equal(t0.Add(70*time.Millisecond)) {
		t.Fatalf("Deadline = %v, %v; want last byte + silence", d, ok)
	}
	if s := f.Flush(t0.Add(69 * time.Millisecond)); len(s) != 0 {
		t.Fatal("flushed before the silence elapsed")
	}
	s := f.Flush(t0.Add(300 * time.Millisecond))
	if len(s) != 1 || !s[0].At.Equal(t0.Add(20*time.Millisecond)) {
		t.Fatalf("Flush = %v; want one scan stamped at its last byte", s)
	}
	f.Feed(t0.Add(time.Second), []byte("partial"))
	f.Reset()
	if _, ok := f.Deadline(); ok {
		t.Error("deadline after Reset")
	}
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte("RB123456785GB\r"), []byte{0, 10, 200})
	f.Add([]byte("]C1\x1d0109\r\n]Q1abc"), []byte{1, 90, 3})
	f.Add(bytes.Repeat([]byte("9"), 700), []byte{5})
	f.Fuzz(func(t *testing.T, data, gaps []byte) {
		fr := scanner.NewFramer(scanner.FramerConfig{MaxLen: 64})
		now := t0
		var out []scanner.Scan
		// Split data into chunks; each gap byte is a chunk length and, in ms,
		// the pause before it.
		for i := 0; len(data) > 0; i++ {
			n := len(data)
			if i < len(gaps) {
				n = min(int(gaps[i])%16+1, len(data))
				now = now.Add(time.Duration(gaps[i]) * time.Millisecond)
			}
			out = append(out, fr.Feed(now, data[:n])...)
			data = data[n:]
		}
		out = append(out, fr.Flush(now.Add(time.Second))...)
		for _, s := range out {
			if len(s.Code) == 0 || len(s.Code) > 64 || bytes.ContainsAny(s.Code, "\r\n") {
				t.Fatalf("bad scan of %d bytes", len(s.Code))
			}
		}
		if st := fr.Stats(); st.Scans != uint64(len(out)) {
			t.Fatalf("Scans = %d, emitted %d", st.Scans, len(out))
		}
		if _, ok := fr.Deadline(); ok {
			t.Fatal("line still pending after a long silence")
		}
	})
}
