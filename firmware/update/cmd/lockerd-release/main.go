// Command lockerd-release signs lockerd releases and verifies them on a locker
// (docs/updates.md). It is independent of lockerctl: a release key belongs to whoever
// builds releases, not to the operators who send commands.
//
//	lockerd-release keygen -out release.pem         # prints the public key to pin
//	lockerd-release sign -key release.pem -deb lockerd_1.2.0-1_arm64.deb \
//	    -version 1.2.0-1 -arch arm64 -store-schema 3  # prints the signed manifest
//	lockerd-release verify -spool DIR -copy DST -installed VERSION \
//	    -release-key HEX [-command-key HEX] -arch ARCH  # the installer's check
//
// verify prints the version to install and the health timeout in seconds and exits 0, or prints "refused REASON" and
// exits 3; other failures exit 1.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lockerd/lockerd/firmware/update"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lockerd-release keygen|sign|verify [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "keygen":
		err = keygen(os.Args[2:], os.Stdout)
	case "sign":
		err = sign(os.Args[2:], os.Stdout)
	case "verify":
		err = verify(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	var r *update.Refusal
	switch {
	case errors.As(err, &r):
		fmt.Println("refused", r.Reason)
		fmt.Fprintln(os.Stderr, "lockerd-release:", err)
		os.Exit(3)
	case err != nil:
		fmt.Fprintln(os.Stderr, "lockerd-release:", err)
		os.Exit(1)
	}
}

type keyList []string

func (k *keyList) String() string     { return strings.Join(*k, ",") }
func (k *keyList) Set(s string) error { *k = append(*k, s); return nil }

func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "where to write the private key (PKCS#8 PEM, as openssl genpkey -algorithm ed25519)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keygen: -out is required")
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, hex.EncodeToString(pub))
	return err
}

func sign(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	keyFile := fs.String("key", "", "the release private key (PEM)")
	deb := fs.String("deb", "", "the package to sign")
	m := update.Manifest{Typ: update.ManifestType}
	fs.StringVar(&m.Package, "package", "lockerd", "the Debian package name")
	fs.StringVar(&m.Version, "version", "", "the package's Debian version")
	fs.StringVar(&m.Arch, "arch", "", "the package's Debian architecture")
	fs.IntVar(&m.StoreSchema, "store-schema", 0, "the store schema the release writes")
	kid := fs.String("kid", "", "optional key name for people")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	f, err := os.Open(*deb)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if m.Size, err = io.Copy(h, f); err != nil {
		return err
	}
	m.SHA256 = hex.EncodeToString(h.Sum(nil))
	tok, err := update.SignManifest(key, *kid, &m)
	if err != nil {
		return err
	}
	// Verify what was signed, so that a bad value fails here rather than on the lockers.
	if _, err := update.VerifyManifest(tok, update.Keys{Release: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(tok))
	return err
}

func readKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("key: not an Ed25519 key")
	}
	return ek, nil
}

func verify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	spool := fs.String("spool", "", "lockerd's spool directory")
	dst := fs.String("copy", "", "where to copy the verified package (root's directory)")
	var release, command keyList
	fs.Var(&release, "release-key", "a pinned release key, 64 hex digits (repeatable)")
	fs.Var(&command, "command-key", "a fleet command key, 64 hex digits (repeatable)")
	cfg := update.Config{}
	fs.StringVar(&cfg.Running, "installed", "", "the installed version (dpkg-query -W -f '${Version}')")
	fs.StringVar(&cfg.Package, "package", "lockerd", "the Debian package")
	fs.StringVar(&cfg.Arch, "arch", "", "the Debian architecture (dpkg --print-architecture)")
	fs.Int64Var(&cfg.MaxSize, "max-size", 64<<20, "the largest package accepted, in bytes")
	fs.IntVar(&cfg.ReadsSchema, "reads-schema", 255, "the newest store schema the installed version reads")
	health := fs.Duration("health-timeout", 2*time.Minute, "printed for the installer: how long the new version has to prove healthy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if cfg.Keys.Release, err = update.ParseKeys(release...); err != nil {
		return err
	}
	if cfg.Keys.Command, err = update.ParseKeys(command...); err != nil {
		return err
	}
	m, _, err := update.VerifyRequest(*spool, *dst, cfg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, m.Version, int(health.Seconds()))
	return err
}
