// Package lockboardtest is a set of virtual lock-control boards that speak
// the real CU16 or 8A/80 byte protocol on a pseudo-terminal.
//
// A Set owns a pty master and publishes the slave under a stable symlink
// (Path), the way udev publishes /dev/serial/by-id links, so the real
// lockboard driver opens it with go.bug.st/serial exactly as it opens
// hardware. Tests, the simulator and crash-test harnesses use it: it keeps
// per-lock latch and door state, runs a Policy for what a person does after
// an unlock (open and close the door, or find the lock jammed), accepts
// forced door changes, records a History of events, and can be unplugged and
// replugged. When the program on the other end dies (even by SIGKILL) the
// Set survives and serves the next one (see drivers/internal/vpty).
package lockboardtest
