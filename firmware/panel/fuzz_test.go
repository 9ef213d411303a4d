package panel

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/keypad"
)

// FuzzPanel feeds arbitrary key and scan sequences to a panel over a fake station and
// checks the panel's invariants after every input: known mode, bounded entry, a badge
// exactly while a PIN is awaited, a session id exactly while a session is open.
func FuzzPanel(f *testing.F) {
	f.Add([]byte("\x07\x03\x09\x01\x04\x06\x08\x02\x0b"))                        // 73914682#
	f.Add([]byte("\x81LKB:BADGE-7F3A\x00\x02\x04\x06\x08\x0b\x82RB123456785GB")) // badge, PIN, scan
	f.Add([]byte("\x83LKC:73914682\x0a\x0b\x0b\xff"))
	f.Add([]byte("\x07\x03\x09\x01\x04\x06\x08\x02\x0b\x05\x05\x00\x01\x0b")) // 73914682#5501#
	keys := []byte("0123456789*#ABCD")
	f.Fuzz(func(t *testing.T, data []byte) {
		st := &fakeStation{fakeOpts: fakeOpts{throttleN: 3}}
		p := New(st, Config{}, &screens{}, slog.New(slog.DiscardHandler))
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		ctx := context.Background()
		for i := 0; i < len(data); i++ {
			b := data[i]
			now = now.Add(time.Duration(b%13) * time.Second)
			if b < 0x80 {
				p.handle(ctx, now, Input{Key: keypad.Key(keys[b%16])})
			} else {
				// A scan: up to 40 following bytes, behind one of the panel's prefixes.
				n := min(int(b%41), len(data)-i-1)
				payload := append([]byte([]string{"", PrefixCode, PrefixBadge, PrefixQR}[b%4]), data[i+1:i+1+n]...)
				i += n
				p.handle(ctx, now, Input{Scan: payload})
			}
			if p.expire(now); modeNames[p.mode] == "" {
				t.Fatalf("unknown mode %d", p.mode)
			}
			if len(p.digits) > maxDigits || (p.mode == ModePIN) != (p.badge != nil) || (p.mode == ModeSession) != (p.sid != "") ||
				(p.mode == ModePhone) != (p.code != nil) {
				t.Fatalf("inconsistent panel: mode %s, %d digits, badge %v, session %q", p.mode, len(p.digits), p.badge != nil, p.sid)
			}
		}
	})
}
