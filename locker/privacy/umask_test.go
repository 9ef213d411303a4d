package privacy

import "syscall"

// setUmask sets the process umask and returns the previous one, so a test can
// show that created modes do not depend on it. Tests that use it must not run
// in parallel.
func setUmask(mask int) int { return syscall.Umask(mask) }
