package firmware

import (
	"testing"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestStartingDriverIsNoNews: a driver loaded but not yet reporting (a serial port
// opening) is not a fault in status replies: its state reads unknown/starting, and
// failed once its first report says its port does not open. firmware/cloudlink's test
// of the same name checks that the reporter records no hardware event for it.
func TestStartingDriverIsNoNews(t *testing.T) {
	starting := DriverHealth{Name: "front", Kind: "scanner", Load: Loaded, Reason: "port not opened yet", Starting: true}
	if h, c := driverHealth(starting), driverCode(starting); h != protocol.HealthUnknown || c != "starting" {
		t.Fatalf("a starting driver reads %s/%s, want unknown/starting", h, c)
	}
	if d := linkDrivers([]DriverHealth{starting}); len(d) != 1 || !d[0].Starting || d[0].Health != protocol.HealthUnknown || d[0].Code != "starting" {
		t.Fatalf("the cloud link sees a starting driver as %+v", d)
	}
	failed := starting
	failed.Starting, failed.Reason = false, "port: no such device"
	if h := driverHealth(failed); h != protocol.HealthFailed {
		t.Fatalf("after its first report, a driver whose port does not open reads %s", h)
	}
}
