package update

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseManifest: the parser never panics, and what it accepts survives a
// round trip through SignManifest and VerifyManifest unchanged.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"typ":"lockerd-release","package":"lockerd","version":"1.2.0-1","arch":"arm64","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":1,"store_schema":3}`))
	f.Add([]byte(`{"typ":"lockerd-release","typ":"x"}`))
	f.Add([]byte(`{"typ":"lockerd-release","package":"lockerd","version":"1:1.0~rc1+b2-0.1","arch":"armhf","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","size":99999999,"store_schema":255} `))
	f.Add([]byte(`[]`))
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if ReasonOf(err) != ReasonMalformed {
				t.Fatalf("reason %s for %v", ReasonOf(err), err)
			}
			return
		}
		tok, err := SignManifest(key, "", m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := VerifyManifest(tok, Keys{Release: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}})
		if err != nil || *back != *m {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, m)
		}
	})
}

// FuzzCompareVersions: a total order on what ParseVersion accepts (antisymmetric,
// reflexive, consistent with String) and no panic on anything.
func FuzzCompareVersions(f *testing.F) {
	for _, tc := range versionOrder {
		f.Add(tc.a, tc.b)
	}
	f.Add("1:0", "0:1")
	f.Add("1~~a", "1~~")
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := ParseVersion(a)
		vb, errB := ParseVersion(b)
		if errA != nil || errB != nil {
			return
		}
		ab, ba := va.Compare(vb), vb.Compare(va)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("Compare(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
		if va.Compare(va) != 0 {
			t.Fatalf("%q is not equal to itself", a)
		}
		again, err := ParseVersion(va.String())
		if err != nil || again.Compare(va) != 0 {
			t.Fatalf("%q prints as %q, which parses to %+v, %v", a, va.String(), again, err)
		}
	})
}

// FuzzReadState and FuzzReadRequest: the files another process writes never panic
// their readers, and a request never names a file outside the spool.
func FuzzReadState(f *testing.F) {
	f.Add([]byte("serial=3\nstep=installed\nversion=1.1-1\nprevious=1.0-1\ncommand=c\nreason=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "state")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadState(p); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"manifest":"a.b.c","deb":"lockerd_1.1-1_amd64.deb","command":"c","previous":"1.0-1"}`))
	f.Add([]byte(`{"deb":"../../etc/shadow.deb"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, RequestFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := ReadRequest(dir)
		if err == nil && filepath.Join(dir, r.Deb) != filepath.Join(dir, filepath.Base(r.Deb)) {
			t.Fatalf("request names %q", r.Deb)
		}
	})
}

// FuzzReport: the installer's step log never panics its reader, and every step is
// reported at most once however the log is cut.
func FuzzReport(f *testing.F) {
	f.Add([]byte("1\tinstalling\t1.1-1\tc\t\n2\tinstalled\t1.1-1\tc\t\n3\thealthy\t1.1-1\tc\t\n"))
	f.Add([]byte("7\trolled_back\t1.1-1\tc\tunhealthy\n3\trefused\t\tc\tdigest"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir, spool := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, StepsFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		n := 0
		count := func(Event) { n++ }
		if err := Report(dir, spool, count); err != nil {
			t.Fatal(err)
		}
		first := n
		if err := Report(dir, spool, count); err != nil || n != first {
			t.Fatalf("a second report sent %d more steps, %v", n-first, err)
		}
	})
}
