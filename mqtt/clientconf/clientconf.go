// Package clientconf reads the settings every MQTT client of lockerd shares: which
// broker URL schemes mean TLS, secret files (a broker password, a private key), and
// the TLS files (CA, client certificate and key). lockerd's configuration
// (firmware/config) and lockerctl both read them here, so that a secret file is
// checked the same way wherever it is named (architecture §3: secrets live in files,
// never inline).
package clientconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// Permission bits a secret file must not have.
const (
	// NotOthers refuses access for others; the owner's group may read (lockerd: a
	// file 0640 with group lockerd).
	NotOthers fs.FileMode = 0o007
	// OwnerOnly refuses access for the group and others (lockerctl: the fleet's keys).
	OwnerOnly fs.FileMode = 0o077
)

// MaxSecretFile bounds a secret (password) file: anything larger is not a password.
const MaxSecretFile = 4096

// ErrSecretFile is wrapped by the errors of ReadSecret: the file is missing, empty,
// too large, not a regular file, readable by others or owned by someone else.
var ErrSecretFile = errors.New("config: unusable secret file")

// TLSScheme reports whether a broker URL scheme asks for TLS (ssl, tls, mqtts).
func TLSScheme(scheme string) bool {
	return scheme == "ssl" || scheme == "tls" || scheme == "mqtts"
}

// PlainScheme reports whether a broker URL scheme is plain TCP (tcp, mqtt).
func PlainScheme(scheme string) bool { return scheme == "tcp" || scheme == "mqtt" }

// BrokerTLS reports whether the broker URL asks for TLS.
func BrokerTLS(broker string) bool {
	u, err := url.Parse(broker)
	return err == nil && TLSScheme(u.Scheme)
}

// readableError says a secret file has permission bits it must not have.
func readableError(path string, perm fs.FileMode) error {
	return fmt.Errorf("%s is readable by others (mode %v): chmod 600 it", path, perm)
}

// CheckPrivate refuses a file that has any of the forbidden permission bits
// (NotOthers or OwnerOnly), that belongs to neither the running user nor root
// (CheckOwner), or that cannot be stat'ed.
func CheckPrivate(path string, forbidden fs.FileMode) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&forbidden != 0 {
		return readableError(path, st.Mode().Perm())
	}
	return CheckOwner(path, st)
}

// ReadSecret reads a secret from path: the first line, without its line ending. The
// file must be a regular file of at most MaxSecretFile bytes, not empty, without any
// of the forbidden permission bits. Errors wrap ErrSecretFile and never hold the
// file's contents.
func ReadSecret(path string, forbidden fs.FileMode) (string, error) {
	data, err := ReadSecretFile(path, forbidden, MaxSecretFile)
	if err != nil {
		return "", err
	}
	defer clear(data)
	line, err := FirstLine(data)
	if err != nil {
		return "", fmt.Errorf("%w: %s %w", ErrSecretFile, path, err)
	}
	return line, nil
}

// MaxKeyFile bounds a PEM key file (an RSA-4096 key is about 3.3 KB).
const MaxKeyFile = 64 << 10

// ReadSecretFile reads the whole of a secret file (a password file, a PEM key) of
// at most limit bytes, with ReadSecret's checks: a regular file, none of the
// forbidden permission bits, owned by the running user or root. Errors wrap
// ErrSecretFile and never hold the file's contents.
func ReadSecretFile(path string, forbidden fs.FileMode, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrSecretFile, path)
	case st.Mode().Perm()&forbidden != 0:
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, readableError(path, st.Mode().Perm()))
	case st.Size() > limit:
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrSecretFile, path, limit)
	}
	if err := CheckOwner(path, st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSecretFile, err)
	}
	return data, nil
}

// FirstLine is the password in the contents of a password file: its first line,
// without its line ending. An empty one is an error.
func FirstLine(data []byte) (string, error) {
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", errors.New("is empty")
	}
	return line, nil
}

// TLSFiles names the PEM files of a TLS client and the settings that name them,
// for errors (e.g. "mqtt.ca_file" in lockerd, "tls.ca" in lockerctl).
type TLSFiles struct {
	CA, Cert, Key             string // paths; CA empty: the system roots; Cert and Key go together
	CAName, CertName, KeyName string // setting names
	// KeyPEM, when set, is the client key itself, used instead of reading Key (a key
	// a TPM keeps sealed: lockerd with keys: tpm).
	KeyPEM []byte
}

// Config builds a client TLS configuration (TLS 1.2 or later) for serverName: the CA
// file's certificates as roots (else the system roots) and, if given, the client
// certificate, whose key file must not have any of the forbidden permission bits.
func (f TLSFiles) Config(serverName string, forbidden fs.FileMode) (*tls.Config, error) {
	// ServerName explicitly: paho hands the config to tls.Client itself on some paths
	// (through a proxy), where an empty name fails every handshake.
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.CAName, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %s holds no PEM certificate", f.CAName, f.CA)
		}
	}
	if f.Cert == "" && f.Key == "" {
		return c, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, fmt.Errorf("%s and %s go together", f.CertName, f.KeyName)
	}
	var pair tls.Certificate
	if f.KeyPEM != nil {
		cert, err := os.ReadFile(f.Cert)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.CertName, err)
		}
		if pair, err = tls.X509KeyPair(cert, f.KeyPEM); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
		return c, nil
	}
	if err := CheckPrivate(f.Key, forbidden); err != nil {
		if _, ok := errors.AsType[*fs.PathError](err); ok {
			return nil, fmt.Errorf("%s: %w", f.KeyName, err)
		}
		return nil, fmt.Errorf("%s %w", f.KeyName, err)
	}
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	c.Certificates = []tls.Certificate{pair}
	return c, nil
}
