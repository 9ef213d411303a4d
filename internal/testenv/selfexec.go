package testenv

import (
	"os"
	"os/exec"
	"time"
)

// EmulatorEnv names the user-mode emulator (qemu-arm-static, qemu-aarch64-static) that
// runs the test binary when it is built for another architecture: `make test-arm`
// sets it beside `go test -exec`. binfmt_misc is not mounted on the CI machines, so
// the kernel cannot run a foreign binary by itself, and a test that starts its own
// binary again must name the emulator.
const EmulatorEnv = "LOCKERD_TEST_EMULATOR"

// SelfCommand is exec.Command for the running test binary with args, through the
// emulator of EmulatorEnv when it is set.
func SelfCommand(args ...string) *exec.Cmd {
	if emu := os.Getenv(EmulatorEnv); emu != "" {
		return exec.Command(emu, append([]string{os.Args[0]}, args...)...)
	}
	return exec.Command(os.Args[0], args...)
}

// Scaled stretches a bound on a wait (never a timing a test asserts) under the
// emulator of EmulatorEnv, where a process runs several times slower and a busy CI
// machine slower still.
func Scaled(d time.Duration) time.Duration {
	if os.Getenv(EmulatorEnv) != "" {
		return 4 * d
	}
	return d
}
