package link

import (
	"testing"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
)

// BenchmarkVerifierCheck is the whole check of a one-parcel announcement (parse,
// signature, claims, body) beside the signature check alone on the same token:
// "overhead" is what the checks other than the signature add, as a ratio.
func BenchmarkVerifierCheck(b *testing.B) {
	v := testVerifier()
	body := `{"parcels":[{"parcel":"p-1","waybill":"` + hex64('a') + `","size":"M","verifier":"` + hex64('b') +
		`","expires":"2023-11-20T00:00:00Z","hint":"…1234"}]}`
	payload := sign(&testing.T{}, fleetKey, claimsJSON("L1", "announce", body, 0, time.Hour))
	if cmd, refusal := v.check(payload, testNow); cmd == nil {
		b.Fatalf("refused: %+v", refusal)
	}
	tok, err := jws.Parse(payload, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var sig, all time.Duration
	for b.Loop() {
		start := time.Now()
		if err := tok.VerifyKeys(v.keys); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if cmd, _ := v.check(payload, testNow); cmd == nil {
			b.Fatal("refused")
		}
		sig, all = sig+mid.Sub(start), all+time.Since(mid)
	}
	b.ReportMetric(float64(all-sig)/float64(sig), "overhead")
}

func hex64(c byte) string {
	out := make([]byte, 64)
	for i := range out {
		out[i] = c
	}
	return string(out)
}
