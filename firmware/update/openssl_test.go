package update

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/firmware/update/updatetest"
	"github.com/lockerd/lockerd/internal/testenv"
)

// TestUpdatesMDOpenSSLSigns runs docs/updates.md's openssl recipe as it is written and
// verifies the manifest it makes: the operator's instructions produce what lockers
// accept.
func TestUpdatesMDOpenSSLSigns(t *testing.T) {
	testenv.LookPath(t, "openssl")
	doc, err := os.ReadFile("../../docs/updates.md")
	if err != nil {
		t.Fatal(err)
	}
	var script string
	for _, block := range strings.Split(string(doc), "```sh\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "openssl genpkey") {
			script = block
		}
	}
	if script == "" {
		t.Fatal("docs/updates.md has no openssl recipe")
	}
	dir := t.TempDir()
	deb := []byte("not really a package, but bytes to sign\n")
	if err := os.WriteFile(filepath.Join(dir, "lockerd_1.2.0-1_arm64.deb"), deb, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("recipe: %v\n%s", err, out)
	}
	pub, err := ParseKeys(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("the recipe printed %q, not a public key", out)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "lockerd_1.2.0-1_arm64.deb.manifest"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := VerifyManifest([]byte(strings.TrimSpace(string(tok))), Keys{Release: []ed25519.PublicKey(pub)})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(deb)
	if m.SHA256 != hex.EncodeToString(sum[:]) || m.Size != int64(len(deb)) || m.Version != "1.2.0-1" || m.Arch != "arm64" {
		t.Errorf("manifest %+v", m)
	}
}

// TestReleaseToolSigns: lockerd-release keygen and sign, as docs/updates.md shows them.
func TestReleaseToolSigns(t *testing.T) {
	tool := updatetest.Tool(t)
	dir := t.TempDir()
	deb := filepath.Join(dir, "lockerd_1.2.0-1_arm64.deb")
	if err := os.WriteFile(deb, []byte("bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "release.pem")
	pubHex, err := exec.Command(tool, "keygen", "-out", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := exec.Command(tool, "sign", "-key", key, "-deb", deb, "-version", "1.2.0-1", "-arch", "arm64", "-store-schema", "3").Output()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseKeys(strings.TrimSpace(string(pubHex)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := VerifyManifest([]byte(strings.TrimSpace(string(tok))), Keys{Release: pub})
	if err != nil || m.Size != 5 || m.StoreSchema != 3 {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v, %v", st.Mode(), err)
	}
	if out, err := exec.Command(tool, "sign", "-key", key, "-deb", deb, "-version", "v1.2", "-arch", "arm64", "-store-schema", "3").CombinedOutput(); err == nil {
		t.Errorf("signed a manifest with a version that is not Debian's: %s", out)
	}
}
