package clock

import (
	"runtime/debug"
	"strconv"
	"time"
)

// buildEpoch is set by the Makefile (-ldflags -X) to the commit's time in Unix
// seconds.
var buildEpoch string

// BuildTime is the time of the commit the running binary was built from, or the zero
// time: the Makefile stamps it (buildEpoch), and Go stamps vcs.time into binaries
// built in a git checkout without -buildvcs=false. It has passed: lockerd raises its
// floor to it, as systemd does with its own build time, so that a board booted in 1970
// on a fresh store still reads a time after the release (and the broker's TLS
// certificate, checked at the station's time, verifies).
func BuildTime() time.Time {
	if s, err := strconv.ParseInt(buildEpoch, 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0)
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return time.Time{}
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.time" {
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
