package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
)

// TestScenarioWithHardware is `make run`: CU16 boards on a pty, GPIO relay doors on fake
// pins and a front panel (scanner on a pty, keypad on fake pins), all through the real
// drivers; the courier logs in and scans at the panel.
func TestScenarioWithHardware(t *testing.T) {
	cloud, err := NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	st, err := NewStation(StationOptions{LockerID: "SIM-H", Dir: t.TempDir(), Cloud: cloud,
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 250*time.Millisecond),
		Hardware: HardwareOptions{GPIODoors: 4, Scanner: true, Keypad: true,
			GPIOPerson: gpiodoortest.OpenThenClose(30*time.Millisecond, 250*time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !st.HasPanel() {
		t.Fatal("station has no panel")
	}
	out := play(t, Scenario{Station: st, Cloud: cloud})
	for _, want := range []string{"shows the badge QR", "presses 4: size XL", "-> door G0", "Alice types the code",
		"Bob shows the pickup QR", "Bob took p-0003", "3 picked_up"} {
		if !strings.Contains(out, want) {
			t.Errorf("scenario output lacks %q:\n%s", want, out)
		}
	}
	pulses := 0
	for i := range 4 {
		pulses += st.Cabinet.Pulses("g" + string(rune('1'+i)))
	}
	if pulses != 1 {
		t.Errorf("GPIO doors pulsed %d times, want 1 (the XL parcel)", pulses)
	}
	if st.Scanner.Typed() < 6 {
		t.Errorf("the scanner typed %d codes, want the badge, 4 parcels and a QR", st.Scanner.Typed())
	}
}
