package update

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// VerifyRequest is the installer's own check of the spool's request, run as root with
// the configuration's keys before dpkg sees anything: it copies the spooled package to
// dst (a path only root can write) and verifies the copy, so that the bytes dpkg
// installs are the bytes checked. cfg.Running is the installed version as dpkg reports
// it. It returns the manifest of the release to install.
func VerifyRequest(spool, dst string, cfg Config) (*Manifest, *Request, error) {
	req, err := ReadRequest(spool)
	if err != nil {
		return nil, nil, err
	}
	m, err := VerifyManifest([]byte(req.Manifest), cfg.Keys)
	if err != nil {
		return nil, req, err
	}
	if _, err := Check(Order{Manifest: req.Manifest, Version: m.Version, SHA256: m.SHA256}, cfg); err != nil {
		return nil, req, err
	}
	if req.Deb != DebFile(m.Package, m.Version, m.Arch) {
		return nil, req, refusal(ReasonMismatch, "request names another package file than the manifest's")
	}
	if err := copyBounded(filepath.Join(spool, req.Deb), dst, m.Size); err != nil {
		return nil, req, err
	}
	sum, err := fileSHA256(dst)
	if err != nil {
		return nil, req, err
	}
	if sum != m.SHA256 {
		_ = os.Remove(dst)
		return nil, req, refusal(ReasonDigest, "the spooled package is not the signed one")
	}
	return m, req, nil
}

// copyBounded copies src to dst (created 0600), refusing more than size bytes.
func copyBounded(src, dst string, size int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("update: spool: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("update: copy: %w", err)
	}
	n, err := io.Copy(out, io.LimitReader(in, size+1))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("update: copy: %w", err)
	}
	if n != size {
		_ = os.Remove(dst)
		return refusal(ReasonDigest, "the spooled package does not have the signed size")
	}
	return nil
}
