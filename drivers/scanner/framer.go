// Package scanner reads barcode and QR scanners attached as serial devices
// (USB CDC-ACM or RS-232) through go.bug.st/serial.
//
// A Framer turns the byte stream into scans: a scan ends on CR, LF or CRLF,
// or after a short silence for scanners configured without a suffix; an AIM
// symbology prefix (]C1, ]Q1, ...) is stripped and reported separately; GS
// (0x1D) inside GS1 data is kept; over-long lines are dropped and counted;
// the same code read again within a short window is dropped. A Reader owns
// one port, runs a Framer on it, and reconnects by its stable path after an
// unplug. Scan contents are tracking numbers or pickup codes: this package
// never logs them, only lengths and counts.
package scanner

import (
	"hash/maphash"
	"time"
)

// Framer defaults.
const (
	DefaultSilence     = 80 * time.Millisecond
	DefaultDedupWindow = 1500 * time.Millisecond
	DefaultMaxLen      = 512
)

// FramerConfig configures a Framer; zero fields take the defaults.
type FramerConfig struct {
	Silence     time.Duration // ends a scan with no suffix; default 80 ms
	DedupWindow time.Duration // drops a repeat within this window; default 1.5 s, negative disables
	MaxLen      int           // longest scan in bytes, AIM prefix excluded; default 512
}

// Scan is one decoded scan. Code is the scanner's data without prefix or
// suffix; it is sensitive and must not be logged.
type Scan struct {
	Code      []byte
	Symbology string // AIM identifier such as "]C1" (GS1-128), "]Q1" (QR); empty if none
	At        time.Time
}

// FramerStats counts what a Framer dropped and emitted.
type FramerStats struct {
	Scans      uint64 // emitted
	TooLong    uint64 // dropped for exceeding MaxLen
	Duplicates uint64 // dropped as a repeat within DedupWindow
}

// Framer splits a scanner's byte stream into scans. It is a pure state
// machine: the caller supplies bytes with their arrival time and asks for
// silence timeouts. It is not safe for concurrent use.
type Framer struct {
	cfg     FramerConfig
	buf     []byte
	last    time.Time // arrival of the last byte of the pending line
	tooLong bool      // the pending line overflowed; discard until its end
	prevCR  bool      // the previous byte was CR (a following LF is part of it)
	seed    maphash.Seed
	lastSum uint64 // hash of the last code seen, not the code itself
	lastAt  time.Time
	seen    bool
	stats   FramerStats
}

// NewFramer returns a Framer with cfg's zero fields defaulted.
func NewFramer(cfg FramerConfig) *Framer {
	if cfg.Silence <= 0 {
		cfg.Silence = DefaultSilence
	}
	if cfg.DedupWindow == 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = DefaultMaxLen
	}
	return &Framer{cfg: cfg, seed: maphash.MakeSeed()}
}

// Feed processes bytes that arrived at now and returns the scans they
// complete, oldest first. A pending line older than Silence is ended first.
func (f *Framer) Feed(now time.Time, b []byte) []Scan {
	var out []Scan
	out = f.appendExpired(out, now)
	for _, c := range b {
		switch c {
		case '\r', '\n':
			if c == '\n' && f.prevCR {
				f.prevCR = false
				continue
			}
			f.prevCR = c == '\r'
			out = f.appendEnd(out, now)
			continue
		}
		f.prevCR = false
		f.last = now
		if f.tooLong {
			continue
		}
		if len(f.buf) >= f.cfg.MaxLen+maxAIM {
			f.tooLong = true
			clear(f.buf)
			f.buf = f.buf[:0]
			continue
		}
		f.buf = append(f.buf, c)
	}
	return out
}

// Flush ends a pending line whose last byte is at least Silence older than
// now, returning its scan if any. Call it when a read times out.
func (f *Framer) Flush(now time.Time) []Scan { return f.appendExpired(nil, now) }

// Deadline reports when the pending line will end by silence, if there is one.
func (f *Framer) Deadline() (time.Time, bool) {
	if len(f.buf) == 0 && !f.tooLong {
		return time.Time{}, false
	}
	return f.last.Add(f.cfg.Silence), true
}

// Reset drops any pending line, e.g. after the port was reopened.
func (f *Framer) Reset() {
	clear(f.buf)
	f.buf = f.buf[:0]
	f.tooLong, f.prevCR = false, false
}

// Stats returns the counters.
func (f *Framer) Stats() FramerStats { return f.stats }

func (f *Framer) appendExpired(out []Scan, now time.Time) []Scan {
	if (len(f.buf) > 0 || f.tooLong) && now.Sub(f.last) >= f.cfg.Silence {
		out = f.appendEnd(out, f.last)
		f.prevCR = false
	}
	return out
}

// appendEnd ends the pending line, stamped at.
func (f *Framer) appendEnd(out []Scan, at time.Time) []Scan {
	if f.tooLong {
		f.tooLong = false
		f.stats.TooLong++
		return out
	}
	if len(f.buf) == 0 {
		return out
	}
	code, sym := splitAIM(f.buf)
	if len(code) > f.cfg.MaxLen {
		f.stats.TooLong++
		f.Reset()
		return out
	}
	if len(code) == 0 {
		f.Reset()
		return out
	}
	sum := maphash.Bytes(f.seed, code)
	if f.cfg.DedupWindow > 0 && f.seen && sum == f.lastSum && at.Sub(f.lastAt) < f.cfg.DedupWindow {
		// A held or re-presented code: read once. The window restarts, so
		// a code left under a continuous-mode scanner stays suppressed.
		f.lastAt = at
		f.stats.Duplicates++
		f.Reset()
		return out
	}
	f.seen, f.lastSum, f.lastAt = true, sum, at
	f.stats.Scans++
	out = append(out, Scan{Code: append([]byte(nil), code...), Symbology: sym, At: at})
	f.Reset()
	return out
}

// maxAIM is the length of an AIM symbology identifier: ']' + code + modifier.
const maxAIM = 3

// splitAIM separates a leading AIM identifier (]Cm: C a letter, m a digit
// or letter) from the data.
func splitAIM(b []byte) (code []byte, sym string) {
	if len(b) >= maxAIM && b[0] == ']' && isAlpha(b[1]) && (isAlpha(b[2]) || b[2] >= '0' && b[2] <= '9') {
		return b[maxAIM:], string(b[:maxAIM])
	}
	return b, ""
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
