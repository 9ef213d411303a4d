package cloudlink

import "time"

// setReporterClock makes the reporter read the station's test clock.
func setReporterClock(r *healthReporter, now func() time.Time) { r.clock = now }
