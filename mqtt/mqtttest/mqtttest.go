// Package mqtttest runs a real Mosquitto broker for tests: a generated
// configuration on free loopback ports with one plain listener guarded by a
// password file and per-locker pattern ACLs (a locker may only use its own
// topics), and one TLS listener that requires a client certificate from a
// CA made at test time (the certificate's CN becomes the user name, so the
// same ACLs apply). The broker can be stopped and restarted on the same
// ports for outage tests. When mosquitto is not installed the test fails
// under CI=true and is skipped otherwise.
package mqtttest

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lockerd/lockerd/internal/testenv"
)

// User is a broker account. Lockers use their locker id as user name;
// cloud users may read and write everything under the prefix.
type User struct {
	Name     string
	Password string
	Cloud    bool
}

// Options configure Start.
type Options struct {
	Prefix string // topic prefix the ACLs cover; default "lockers"
	Users  []User
	// Cloud names certificate identities (CNs) with cloud rights on the TLS
	// listener; every other CN is treated as a locker id.
	CloudCNs []string
	// Observers names users or certificate CNs that may read every topic (a
	// subscription to "#"), for tests that inspect all traffic; they may not
	// publish.
	Observers []string
	// Persistence keeps sessions, queued messages and retained messages
	// across Stop/Restart (saved on a clean stop, as a production broker
	// would), so an outage test can tell broker loss from link loss.
	Persistence bool
	// OpenFiles raises the broker's open-file limit (RLIMIT_NOFILE) to this many,
	// for a fleet of more than about a thousand clients: mosquitto uses a descriptor
	// per connection and does not raise its own soft limit. Go restores its own
	// original soft limit in every child it starts (os/exec), so the broker is
	// started through `sh -c 'ulimit -n N; exec mosquitto ...'`; N must not exceed
	// the hard limit (ulimit -Hn). 0 leaves the inherited limit.
	OpenFiles int
}

// Broker is a running mosquitto process.
type Broker struct {
	t         testing.TB
	bin       string
	dir       string
	conf      string
	plainPort int
	tlsPort   int
	openFiles int
	pki       *pki

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when the current process has exited
}

// Start starts mosquitto with a generated configuration and stops it when
// the test ends.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	bin := testenv.LookPath(t, "mosquitto", "/usr/sbin", "/usr/local/sbin")
	passwd := testenv.LookPath(t, "mosquitto_passwd")
	if opts.Prefix == "" {
		opts.Prefix = "lockers"
	}
	b := &Broker{t: t, bin: bin, dir: t.TempDir(), openFiles: opts.OpenFiles}
	var err error
	if b.pki, err = newPKI(b.dir); err != nil {
		t.Fatalf("mqtttest: CA: %v", err)
	}
	if _, _, _, err := b.pki.issue("server", true); err != nil {
		t.Fatalf("mqtttest: server certificate: %v", err)
	}
	b.plainPort, b.tlsPort = testenv.FreePort(t), testenv.FreePort(t)
	b.writePasswords(t, passwd, opts.Users)
	b.writeACL(t, opts)
	b.writeConfig(t, opts.Persistence)
	b.launch()
	t.Cleanup(b.Stop)
	return b
}

// Tool returns the path of a mosquitto client program (mosquitto_sub,
// mosquitto_pub), failing the test under CI=true and skipping it otherwise when it is
// not installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	return testenv.LookPath(t, name)
}

// URL is the plain listener, for paho ("tcp://127.0.0.1:port").
func (b *Broker) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.plainPort) }

// TLSURL is the TLS listener, for paho ("ssl://127.0.0.1:port").
func (b *Broker) TLSURL() string { return fmt.Sprintf("ssl://127.0.0.1:%d", b.tlsPort) }

// Port is the plain listener's port.
func (b *Broker) Port() int { return b.plainPort }

// TLSPort is the TLS listener's port.
func (b *Broker) TLSPort() int { return b.tlsPort }

// CAFile is the PEM file of the test CA (for mosquitto_pub --cafile).
func (b *Broker) CAFile() string { return b.pki.caFile() }

// ClientTLS returns a TLS configuration that trusts the test CA and presents
// a fresh client certificate with the given CN (the broker user name).
func (b *Broker) ClientTLS(cn string) *tls.Config {
	b.t.Helper()
	_, _, pair, err := b.pki.issue(cn, false)
	if err != nil {
		b.t.Fatalf("mqtttest: client certificate: %v", err)
	}
	return &tls.Config{RootCAs: b.pki.pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// ClientCertFiles issues a client certificate for cn and returns the PEM
// files (for mosquitto_pub --cert/--key).
func (b *Broker) ClientCertFiles(cn string) (certFile, keyFile string) {
	b.t.Helper()
	certFile, keyFile, _, err := b.pki.issue(cn, false)
	if err != nil {
		b.t.Fatalf("mqtttest: client certificate: %v", err)
	}
	return certFile, keyFile
}

// ServerOnlyTLS trusts the test CA but presents no client certificate; the
// TLS listener must refuse it.
func (b *Broker) ServerOnlyTLS() *tls.Config {
	return &tls.Config{RootCAs: b.pki.pool, MinVersion: tls.VersionTLS12}
}

func (b *Broker) writePasswords(t testing.TB, passwd string, users []User) {
	// Plain text first, then hashed in place by mosquitto_passwd -U, so no
	// password ever appears in a command line.
	var sb strings.Builder
	for _, u := range users {
		fmt.Fprintf(&sb, "%s:%s\n", u.Name, u.Password)
	}
	file := filepath.Join(b.dir, "passwd")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(passwd, "-U", file).CombinedOutput(); err != nil {
		t.Fatalf("mqtttest: mosquitto_passwd: %v\n%s", err, out)
	}
}

func (b *Broker) writeACL(t testing.TB, opts Options) {
	var sb strings.Builder
	sb.WriteString("# cloud accounts: everything under the prefix\n")
	cloud := append([]string(nil), opts.CloudCNs...)
	for _, u := range opts.Users {
		if u.Cloud {
			cloud = append(cloud, u.Name)
		}
	}
	for _, name := range cloud {
		fmt.Fprintf(&sb, "user %s\ntopic readwrite %s/#\n\n", name, opts.Prefix)
	}
	for _, name := range opts.Observers {
		fmt.Fprintf(&sb, "user %s\ntopic read #\n\n", name)
	}
	// Pattern lines apply to every user; %u is the user name, which for a
	// locker is its locker id.
	p := opts.Prefix
	fmt.Fprintf(&sb, "# every locker: its own topics only\npattern read %s/%%u/cmd\npattern write %s/%%u/reply\npattern write %s/%%u/evt\npattern readwrite %s/%%u/status\n", p, p, p, p)
	if err := os.WriteFile(filepath.Join(b.dir, "acl"), []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *Broker) writeConfig(t testing.TB, persistence bool) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`# generated by mqtt/mqtttest
user %[1]s
persistence %[5]t
persistence_location %[2]s/
allow_anonymous false
password_file %[2]s/passwd
acl_file %[2]s/acl
log_dest file %[2]s/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
max_queued_messages 100000
# Without it the broker's Nagle delay meets the client's delayed ACK and a
# command round trip on loopback takes ~40 ms instead of well under 1 ms.
set_tcp_nodelay true
max_inflight_messages 100
# No cap on clients (mosquitto's default, written out: the fleet benchmark connects
# a thousand lockers; the open-file limit is the cap, Options.OpenFiles).
max_connections -1

listener %[3]d 127.0.0.1

listener %[4]d 127.0.0.1
cafile %[2]s/ca.pem
certfile %[2]s/server.pem
keyfile %[2]s/server.key
require_certificate true
use_identity_as_username true
`, u.Username, b.dir, b.plainPort, b.tlsPort, persistence)
	b.conf = filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(b.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// launch starts the process and waits until both listeners accept.
func (b *Broker) launch() {
	b.t.Helper()
	cmd := exec.Command(b.bin, "-c", b.conf)
	if b.openFiles > 0 {
		// The shell raises the limit and becomes mosquitto (exec), so signals and
		// Wait still reach the broker itself.
		cmd = exec.Command("/bin/sh", "-c", `ulimit -n "$0" && exec "$1" -c "$2"`, strconv.Itoa(b.openFiles), b.bin, b.conf)
	}
	cmd.Dir = b.dir
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("mqtttest: start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { // owned by the Broker: it ends when the process does, which Stop ensures
		_ = cmd.Wait()
		close(exited)
	}()
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for _, port := range []int{b.plainPort, b.tlsPort} {
		for !testenv.Dialable(port) {
			select {
			case <-exited:
				b.t.Fatalf("mqtttest: mosquitto exited at start:\n%s", b.Log())
			default:
			}
			if time.Now().After(deadline) {
				b.t.Fatalf("mqtttest: mosquitto not listening on %d after 10s:\n%s", port, b.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Stop terminates the broker (SIGTERM, then SIGKILL after 5 s) and waits
// for it to exit. Stopping a stopped broker does nothing.
func (b *Broker) Stop() { b.stop(syscall.SIGTERM) }

// Kill stops the broker abruptly, as a crash or power cut would.
func (b *Broker) Kill() { b.stop(syscall.SIGKILL) }

func (b *Broker) stop(sig syscall.Signal) {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Restart starts the broker again on the same ports after Stop or Kill.
// Without Options.Persistence its state (sessions, retained messages) is
// gone; with it, what was saved at the last clean stop is back.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.launch()
}

// PID is the running broker's process id (0 when stopped), for measuring its CPU
// time and memory in /proc.
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Log returns what mosquitto logged so far, for failure messages.
func (b *Broker) Log() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
	return string(out)
}
