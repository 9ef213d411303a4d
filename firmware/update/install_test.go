package update

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/mqtt/jws"
)

// TestGoodRelease: verified, spooled, installed by dpkg, healthy; the spool is empty
// again and the next update has its way back.
func TestGoodRelease(t *testing.T) {
	l := newLocker(t, "1.0-1")
	o := l.publish("1.1-1", stubDeb(t, "1.1-1", true), l.release)
	if err := l.update(o); err != nil {
		t.Fatal(err)
	}
	if got, want := l.steps(), []string{"downloading", "verified"}; !slices.Equal(got, want) {
		t.Errorf("lockerd's steps = %v, want %v", got, want)
	}
	if !l.exists(RequestFile) {
		t.Fatal("no request in the spool")
	}
	out, err := l.install()
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	l.reportState()
	if got, want := l.steps(), []string{"installing", "installed", "healthy"}; !slices.Equal(got, want) {
		t.Errorf("installer's steps = %v, want %v\n%s", got, want, out)
	}
	if v := l.installed(); v != "1.1-1" {
		t.Errorf("installed %q, want 1.1-1", v)
	}
	if v := l.stamp(); v != "1.1-1" {
		t.Errorf("health stamp from %q, want 1.1-1", v)
	}
	if l.exists(RequestFile) || l.exists(DebFile("lockerd", "1.1-1", "amd64")) {
		t.Error("the spool still holds the request or the package")
	}
	l.reportState() // a second start reports nothing again
	if got := l.steps(); len(got) != 0 {
		t.Errorf("steps reported twice: %v", got)
	}
	// And the installer has nothing to do without a request.
	if out, err := l.install(); err != nil || out != "" {
		t.Errorf("idle installer: %v %q", err, out)
	}
}

// TestRefusedReleases: each is refused by lockerd with its reason, as an event, and
// nothing reaches the spool.
func TestRefusedReleases(t *testing.T) {
	l := newLocker(t, "1.0-1")
	deb := stubDeb(t, "1.1-1", true)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name  string
		order func() Order
		want  Reason
		steps []string
	}{
		{"tampered bytes", func() Order {
			o := l.publish("1.1-1", deb, l.release)
			bad := append([]byte{}, deb...)
			bad[len(bad)/2] ^= 1
			l.files[DebFile("lockerd", "1.1-1", "amd64")] = bad
			return o
		}, ReasonDigest, []string{"downloading", "refused:digest"}},
		{"unsigned", func() Order {
			o := l.publish("1.1-1", deb, l.release)
			o.Manifest = ""
			return o
		}, ReasonUnsigned, []string{"refused:unsigned"}},
		{"alg none", func() Order {
			o := l.publish("1.1-1", deb, l.release)
			_, payload, _ := strings.Cut(o.Manifest, ".")
			payload, _, _ = strings.Cut(payload, ".")
			o.Manifest = "eyJhbGciOiJub25lIn0." + payload + "."
			return o
		}, ReasonUnsigned, []string{"refused:unsigned"}},
		{"signed by the command key", func() Order { return l.publish("1.1-1", deb, l.command) },
			ReasonCommandKey, []string{"refused:command_key"}},
		{"signed by an unknown key", func() Order { return l.publish("1.1-1", deb, stranger) },
			ReasonBadSignature, []string{"refused:bad_signature"}},
		{"downgrade", func() Order { return l.publish("0.9-1", stubDeb(t, "0.9-1", true), l.release) },
			ReasonDowngrade, []string{"refused:downgrade"}},
		{"same version", func() Order { return l.publish("1.0-1", stubDeb(t, "1.0-1", true), l.release) },
			ReasonDowngrade, []string{"refused:downgrade"}},
		{"a store schema the running version cannot read", func() Order {
			return l.publish("1.1-1", deb, l.release, func(m *Manifest) { m.StoreSchema = 4 })
		}, ReasonStoreSchema, []string{"refused:store_schema"}},
		{"another architecture", func() Order {
			return l.publish("1.1-1", deb, l.release, func(m *Manifest) { m.Arch = "arm64" })
		}, ReasonWrongPackage, []string{"refused:wrong_package"}},
		{"another package", func() Order {
			return l.publish("1.1-1", deb, l.release, func(m *Manifest) { m.Package = "lockerctl" })
		}, ReasonWrongPackage, []string{"refused:wrong_package"}},
		{"larger than update.max_size", func() Order {
			return l.publish("1.1-1", deb, l.release, func(m *Manifest) { m.Size = 17 << 20 })
		}, ReasonTooLarge, []string{"refused:too_large"}},
		{"longer than the manifest says", func() Order {
			return l.publish("1.1-1", deb, l.release, func(m *Manifest) { m.Size = int64(len(deb)) - 10 })
		}, ReasonTooLarge, []string{"downloading", "refused:too_large"}},
		{"digest in the command not the manifest's", func() Order {
			o := l.publish("1.1-1", deb, l.release)
			o.SHA256 = strings.Repeat("0", 64)
			return o
		}, ReasonMismatch, []string{"refused:mismatch"}},
		{"version in the command not the manifest's", func() Order {
			o := l.publish("1.1-1", deb, l.release)
			o.Version = "9.9-1"
			return o
		}, ReasonMismatch, []string{"refused:mismatch"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_ = os.Remove(filepath.Join(l.spool, RequestFile)) // each case on its own
			err := l.update(tc.order())
			if !errors.Is(err, ErrRefused) || ReasonOf(err) != tc.want {
				t.Errorf("update: %v, want a refusal %s", err, tc.want)
			}
			if got := l.steps(); !slices.Equal(got, tc.steps) {
				t.Errorf("steps = %v, want %v", got, tc.steps)
			}
			if l.exists(RequestFile) {
				t.Error("a refused release reached the spool")
			}
			if v := l.installed(); v != "1.0-1" {
				t.Errorf("installed %q", v)
			}
		})
	}
}

// TestInstallerVerifiesOnItsOwn: a compromised lockerd (it runs unprivileged; the
// installer is root) writes a request whose package is not the signed one, or a
// request with a manifest signed by the command key. The installer refuses both and
// dpkg never sees the package.
func TestInstallerVerifiesOnItsOwn(t *testing.T) {
	l := newLocker(t, "1.0-1")
	good := l.publish("1.1-1", stubDeb(t, "1.1-1", true), l.release)
	if err := l.update(good); err != nil {
		t.Fatal(err)
	}
	l.steps()
	evil := stubDeb(t, "1.1-1", false) // other bytes under the signed name and size
	evil = append(evil, l.files[DebFile("lockerd", "1.1-1", "amd64")][len(evil):]...)[:len(l.files[DebFile("lockerd", "1.1-1", "amd64")])]
	writeFile(t, l.spool, DebFile("lockerd", "1.1-1", "amd64"), evil)
	out, err := l.install()
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	l.reportState()
	if got, want := l.steps(), []string{"refused:digest"}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v\n%s", got, want, out)
	}
	if v := l.installed(); v != "1.0-1" {
		t.Errorf("installed %q, want 1.0-1", v)
	}

	// A request signed by the command key, written by hand.
	o := l.publish("1.2-1", stubDeb(t, "1.2-1", true), l.command)
	writeFile(t, l.spool, DebFile("lockerd", "1.2-1", "amd64"), l.files[DebFile("lockerd", "1.2-1", "amd64")])
	data, _ := jsonLine(Request{Manifest: o.Manifest, Deb: DebFile("lockerd", "1.2-1", "amd64"), Command: "x"})
	writeFile(t, l.spool, RequestFile, data)
	if out, err := l.install(); err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	l.reportState()
	if got, want := l.steps(), []string{"refused:command_key"}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v", got, want)
	}
	if v := l.installed(); v != "1.0-1" {
		t.Errorf("installed %q, want 1.0-1", v)
	}
}

func TestVerifyManifestRefusesForeignTokens(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys := Keys{Release: []ed25519.PublicKey{pub}}
	// A genuine command, signed by the same key, is not a manifest.
	tok, _ := jws.Sign(priv, "", []byte(`{"aud":"L-1","jti":"a","iat":1,"exp":2,"typ":"ping","body":{}}`))
	if _, err := VerifyManifest(tok, keys); ReasonOf(err) != ReasonMalformed {
		t.Errorf("a command as a manifest: %v", err)
	}
	if _, err := VerifyManifest([]byte("x"), Keys{}); ReasonOf(err) != ReasonNoReleaseKey {
		t.Errorf("no release key: %v", err)
	}
}
