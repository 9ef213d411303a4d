// Package tpmtest starts a real software TPM 2.0 (Debian's swtpm, libtpms inside) for
// tests and hands back a github.com/google/go-tpm transport to it. Each Start gets a
// fresh TPM (new seeds: nothing sealed by another TPM opens on it); its state directory
// outlives Stop, so that Restart brings back the SAME TPM, as a thief who took the whole
// device would have it. When swtpm is not installed the test is skipped, except under
// CI=true, where it fails (internal/testenv): .ci/run installs it.
//
// swtpm's data channel is one end of a connected stream socket pair that it inherits
// (--server type=tcp,fd=3 reads and writes that descriptor directly): no port is picked,
// raced for or left open to other local users, and closing our end stops swtpm. The
// transport frames each response by its header's size field rather than trusting one
// Read to return it whole, and bounds each command's round trip.
package tpmtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/lockerd/lockerd/internal/testenv"
)

// Require returns the path of swtpm, or skips t (fails it under CI=true) when swtpm is
// not installed.
func Require(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "swtpm", "/usr/bin", "/usr/local/bin")
}

// SWTPM is one running (or stopped) software TPM.
type SWTPM struct {
	t    testing.TB
	bin  string
	dir  string // the TPM's state: seeds, NV, persistent objects
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	conn *framed
	log  *testenv.SyncBuffer
}

// Start starts a fresh software TPM (its own new state directory under t.TempDir) and
// stops it when t ends.
func Start(t testing.TB) *SWTPM {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "swtpm-state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("tpmtest: %v", err)
	}
	return StartState(t, dir)
}

// StartState starts a software TPM on an existing state directory (one that Stop left,
// or a copy of it) and stops it when t ends. No other swtpm may be running on dir.
func StartState(t testing.TB, dir string) *SWTPM {
	t.Helper()
	s := &SWTPM{t: t, bin: Require(t), dir: dir}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// StateDir is the directory holding the TPM's state.
func (s *SWTPM) StateDir() string { return s.dir }

// TPM is the transport to the running TPM. Commands are serialised: one at a time,
// as on a real TPM.
func (s *SWTPM) TPM() transport.TPM {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		s.t.Fatalf("tpmtest: swtpm is not running")
	}
	return s.conn
}

// Restart stops the TPM and starts it again on the same state, as a power cycle does:
// persistent state (seeds, NV, persistent handles) survives, loaded objects and
// sessions do not.
func (s *SWTPM) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *SWTPM) start() {
	s.t.Helper()
	// One end of a connected stream pair is swtpm's data channel, the other ours.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		s.t.Fatalf("tpmtest: socketpair: %v", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "tpm"), os.NewFile(uintptr(fds[1]), "swtpm")
	defer theirs.Close() // swtpm has its own copy after Start
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		s.t.Fatalf("tpmtest: socket: %v", err)
	}

	s.log = &testenv.SyncBuffer{}
	cmd := exec.Command(s.bin, "socket", "--tpm2",
		"--server", "type=tcp,fd=3", // fd 3: theirs, read and written directly
		"--tpmstate", "dir="+s.dir+",mode=0600",
		"--flags", "not-need-init,startup-clear")
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.Close()
		s.t.Fatalf("tpmtest: start swtpm: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done, s.conn = cmd, done, &framed{c: c}
	s.mu.Unlock()
	// A first command proves swtpm serves (and has run its TPM2_Startup).
	if _, err := (tpm2.GetRandom{BytesRequested: 8}).Execute(s.conn); err != nil {
		s.Stop()
		s.t.Fatalf("tpmtest: swtpm does not answer: %v\n%s", err, s.log.String())
	}
}

// Stop stops the TPM and waits for it: closing the data channel ends swtpm, which
// writes its state first (SIGTERM if it lingers). The state directory stays. Stopping a
// stopped TPM does nothing.
func (s *SWTPM) Stop() {
	s.mu.Lock()
	cmd, done, conn := s.cmd, s.done, s.conn
	s.cmd, s.done, s.conn = nil, nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	conn.Close()
	select {
	case <-done:
		return
	case <-time.After(2 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		s.t.Errorf("tpmtest: swtpm ignored SIGTERM for 5s; killed\n%s", s.log.String())
	}
}

// framed is a transport.TPMCloser over a stream: one command written, one response
// read whole (its 10-byte header says its size).
type framed struct {
	mu sync.Mutex
	c  net.Conn
}

// sendTimeout bounds one command's round trip.
const sendTimeout = 10 * time.Second

// maxResponse bounds a response; TPM responses are a few KiB at most.
const maxResponse = 64 << 10

func (f *framed) Send(cmd []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A TPM command takes milliseconds; a wedged swtpm fails the test, not hangs it.
	_ = f.c.SetDeadline(time.Now().Add(sendTimeout))
	if _, err := f.c.Write(cmd); err != nil {
		return nil, fmt.Errorf("tpmtest: send: %w", err)
	}
	var hdr [10]byte
	if _, err := io.ReadFull(f.c, hdr[:]); err != nil {
		return nil, fmt.Errorf("tpmtest: response header: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[2:6])
	if size < uint32(len(hdr)) || size > maxResponse {
		return nil, errors.New("tpmtest: response size out of range")
	}
	rsp := make([]byte, size)
	copy(rsp, hdr[:])
	if _, err := io.ReadFull(f.c, rsp[len(hdr):]); err != nil {
		return nil, fmt.Errorf("tpmtest: response body: %w", err)
	}
	return rsp, nil
}

func (f *framed) Close() error { return f.c.Close() }
