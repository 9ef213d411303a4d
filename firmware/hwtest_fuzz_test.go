package firmware

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzReadLines feeds arbitrary installer input to hwtest's line reader and compares
// what it hands over with an independent model of the input's lines: split at "\n",
// one trailing "\r" dropped (a terminal or a Windows paste), surrounding space
// trimmed, no line after a final newline. A line longer than the reader's buffer
// ends the input there, as if it had ended (tested with a seed). Stopping the reader
// after `keep` lines returns, and what it handed over is a prefix of the model.
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("drivers\npulse 2\ny\nquit\n"), uint8(255))
	f.Add([]byte("pulse all\r\ny\r\nn\r\nq\r\n"), uint8(255))
	f.Add([]byte("  pulse   A01 \t\n\n\ny"), uint8(255))
	f.Add([]byte("doors\npulse A01\ny\nquit\n"), uint8(1))
	f.Add([]byte("\r\r\n\x00\xff\n"), uint8(0))
	f.Add(append(append([]byte("doors\n"), bytes.Repeat([]byte("x"), bufio.MaxScanTokenSize)...), "\nquit\n"...), uint8(255))
	// The longest line the reader takes, with a newline, with "\r\n" (one byte too many)
	// and at the end of the input (the fuzzer found the model one byte short here).
	for _, end := range []string{"\nquit\n", "\r\nquit\n", ""} {
		f.Add(append(append([]byte("doors\n"), bytes.Repeat([]byte("x"), bufio.MaxScanTokenSize-1)...), end...), uint8(255))
	}
	f.Fuzz(func(t *testing.T, in []byte, keep uint8) {
		want, complete := modelLines(in)
		lines, stop := readLines(bytes.NewReader(in))
		var got []string
		for len(got) < int(keep) {
			l, ok := <-lines
			if !ok {
				break
			}
			got = append(got, l)
		}
		stop()
		for l := range lines { // a line already on its way when stop came
			got = append(got, l)
		}
		if len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Fatalf("read %q from %q, want a prefix of %q", got, in, want)
		}
		if int(keep) >= len(want) && complete && len(got) != len(want) {
			t.Fatalf("read %q from %q, want %q", got, in, want)
		}
	})
}

// modelLines splits in as an installer's terminal does; complete is false when a line
// is too long for the reader, whose lines then stop at or before it.
func modelLines(in []byte) (lines []string, complete bool) {
	parts := strings.Split(string(in), "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	for _, p := range parts {
		// The scanner holds a line with its "\n" (or the last one at EOF) in at most
		// MaxScanTokenSize bytes: 65,535 bytes and a newline fit, 65,536 do not.
		if len(p) >= bufio.MaxScanTokenSize {
			return lines, false
		}
		lines = append(lines, strings.TrimSpace(strings.TrimSuffix(p, "\r")))
	}
	return lines, true
}
