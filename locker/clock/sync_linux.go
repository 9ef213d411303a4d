package clock

import (
	"golang.org/x/sys/unix"
)

// SystemSynced asks the kernel whether the wall clock is synchronised: adjtimex(2)
// read-only (no privilege needed) reports TIME_ERROR, with STA_UNSYNC set, until a
// time service (systemd-timesyncd, chrony, ntpd) has disciplined the clock, and again
// after anyone steps it with settimeofday (date -s, fake-hwclock). This is the state
// `timedatectl show -p NTPSynchronized` prints, and what systemd-timesyncd's
// /run/systemd/timesync/synchronized and time-sync.target follow.
func SystemSynced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, err
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}
