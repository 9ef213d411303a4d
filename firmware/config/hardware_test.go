package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func mixed(t testing.TB) string {
	b, err := os.ReadFile("testdata/mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return edited(string(b))
}

func TestLoadMixedHardware(t *testing.T) {
	c, err := Parse([]byte(mixed(t)))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Hardware
	if len(h.LockBoards) != 1 || len(h.GPIODoors) != 1 || len(h.Scanners) != 1 || len(h.Keypads) != 2 {
		t.Fatalf("%+v", h)
	}
	g := h.GPIODoors[0]
	if g.Pulse != 500*time.Millisecond || g.Doors[1].RelayActive != LevelHigh || g.Doors[2].Pulse != 700*time.Millisecond {
		t.Fatalf("%+v", g)
	}
	if names := []string{g.DoorName(0), g.DoorName(1), g.DoorName(2)}; strings.Join(names, ",") != "d1,d2,3" {
		t.Fatalf("door names %v", names)
	}
	if h.Keypads[1].Kind != KeypadWiegand || h.Keypads[1].D0 != "GPIO18" || h.Panel.DefaultSize != "M" || h.Panel.Idle != 90*time.Second {
		t.Fatalf("%+v", h.Keypads)
	}
	if c.Compartments[4].Door != (Door{Driver: "gpio", Lock: 3}) {
		t.Fatalf("%+v", c.Compartments[4])
	}
}

func TestHardwareErrorsNameFieldAndLine(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     string // substring of the error, with path and line
	}{
		{"unknown door driver", "{driver: gpio, lock: 1}", "{driver: gpiox, lock: 1}",
			`compartments[2].door.driver (line 42): unknown driver "gpiox"`},
		{"gpio door beyond the set", "{driver: gpio, lock: 3}", "{driver: gpio, lock: 4}",
			`compartments[4].door.lock (line 44): must be 1..3, the door's position in "gpio"'s doors`},
		{"gpio door with a board", "{driver: gpio, lock: 2}", "{driver: gpio, board: 1, lock: 2}",
			"compartments[3].door.board (line 43): gpio doors have no board"},
		{"door on a scanner", "{driver: gpio, lock: 3}", "{driver: front, lock: 3}",
			`compartments[4].door.driver (line 44): "front" is a scanner, not a door driver`},
		{"door on a keypad", "{driver: gpio, lock: 3}", "{driver: pad, lock: 3}",
			`compartments[4].door.driver (line 44): "pad" is a keypad, not a door driver`},
		{"duplicate gpio door", "{driver: gpio, lock: 2}}", "{driver: gpio, lock: 1}}",
			"compartments[3].door (line 43): door gpio/1 already opens compartment 3"},
		{"duplicate pin in a door set", "sensor: GPIO27", "sensor: GPIO17",
			"hardware.gpio_doors[0].doors[1].sensor (line 21): pin GPIO17 already used by hardware.gpio_doors[0].doors[0].sensor"},
		{"keypad on a door relay", "d0: GPIO18", "d0: GPIO5",
			"hardware.keypads[1].d0 (line 34): pin GPIO5 already used by hardware.gpio_doors[0].doors[0].relay"},
		{"same pin in another case", "rows: [GPIO12", "rows: [gpio13",
			"hardware.keypads[0].rows[0] (line 30): pin gpio13 already used by hardware.gpio_doors[0].doors[2].relay"},
		{"relay and sensor on one line", "{name: d1, relay: GPIO5, sensor: GPIO17}", "{name: d1, relay: GPIO5, sensor: GPIO5}",
			"hardware.gpio_doors[0].doors[0].sensor (line 20): pin GPIO5 already used by hardware.gpio_doors[0].doors[0].relay"},
		{"not a pin name", "relay: GPIO6", "relay: /dev/gpiochip0",
			`hardware.gpio_doors[0].doors[1].relay (line 21): "/dev/gpiochip0" is not a GPIO line name`},
		{"scanner on the bus port", "usb-Honeywell_Imaging___Mobility_1900-if00", "usb-FTDI_FT232R_USB_UART_A10K5XYZ-if00-port0",
			`hardware.scanners[0].port (line 25): port already used by "bus0"`},
		{"scanner without port", "      port: /dev/serial/by-id/usb-Honeywell_Imaging___Mobility_1900-if00\n", "",
			"hardware.scanners[0].port (line 24): required"},
		{"name reused across kinds", "name: front", "name: bus0",
			`hardware.scanners[0].name (line 24): duplicate driver name "bus0" (also hardware.lockboards[0])`},
		{"bad driver name", "name: door-pad", "name: door pad",
			"hardware.keypads[1].name (line 32): must be 1-64 letters"},
		{"door pulse over the ceiling", "pulse: 700ms", "pulse: 5s",
			"hardware.gpio_doors[0].doors[2].pulse (line 22): must be at most 2s"},
		{"set pulse over the ceiling", "pulse: 500ms", "pulse: 3s",
			"hardware.gpio_doors[0].pulse (line 16): must be at most 2s"},
		{"pulse too short", "pulse: 500ms", "pulse: 5ms",
			"hardware.gpio_doors[0].pulse (line 16): must be at least 20ms"},
		{"debounce too long", "debounce: 20ms", "debounce: 2s",
			"hardware.gpio_doors[0].debounce (line 17): must be between 1ms and 1s"},
		{"bad relay level", "relay_active: high", "relay_active: hi",
			`hardware.gpio_doors[0].doors[1].relay_active (line 21): must be low or high, not "hi"`},
		{"bad set level", "relay_active: low", "relay_active: active-low",
			"hardware.gpio_doors[0].relay_active (line 18): must be low or high"},
		{"bad pull", "debounce: 20ms", "debounce: 20ms\n      sensor_pull: sideways",
			`hardware.gpio_doors[0].sensor_pull (line 18): must be up, down or none, not "sideways"`},
		{"door without sensor", ", sensor: GPIO22", "",
			"hardware.gpio_doors[0].doors[2].sensor (line 22): required: a locker door needs a door sensor"},
		{"door names clash", "{relay: GPIO13", "{name: d2, relay: GPIO13",
			`hardware.gpio_doors[0].doors[2].name (line 22): duplicate door name "d2"`},
		{"unknown door field", "relay: GPIO6", "rely: GPIO6", "hardware.gpio_doors[0].doors[1].rely (line 21): unknown key; did you mean relay?"},
		{"unknown keypad kind", "kind: wiegand", "kind: rfid",
			`hardware.keypads[1].kind (line 33): must be matrix or wiegand, not "rfid"`},
		{"wiegand with rows", "d1: GPIO19", "d1: GPIO19\n      rows: [GPIO4]",
			"hardware.keypads[1] (line 32): a wiegand keypad has d0 and d1, not rows"},
		{"wiegand without d1", "      d1: GPIO19\n", "",
			"hardware.keypads[1].d1 (line 32): required: a GPIO line name"},
		{"3x4 keypad without layout", "rows: [GPIO12, GPIO16, GPIO20, GPIO21]", "rows: [GPIO12, GPIO16, GPIO20]",
			"hardware.keypads[0].layout (line 28): required unless the keypad is 4x4"},
		{"layout of the wrong shape", "cols: [GPIO23, GPIO24, GPIO25, GPIO26]",
			"cols: [GPIO23, GPIO24, GPIO25, GPIO26]\n      layout: [\"123A\", \"456B\", \"789\", \"*0#D\"]",
			"hardware.keypads[0].layout[2] (line 32): has 3 keys for 4 column pins"},
		{"layout with a strange key", "cols: [GPIO23, GPIO24, GPIO25, GPIO26]",
			"cols: [GPIO23, GPIO24, GPIO25, GPIO26]\n      layout: [\"123A\", \"456B\", \"789C\", \"*0#E\"]",
			`hardware.keypads[0].layout[3] (line 32): keys are 0-9, *, # and A-D, not 'E'`},
		{"too many rows", "rows: [GPIO12, GPIO16, GPIO20, GPIO21]", "rows: [G1, G2, G3, G4, G5, G6, G7, G8, G9]",
			"hardware.keypads[0].rows (line 30): must list 1 to 8 pins"},
		{"matrix with d0", "cols: [GPIO23, GPIO24, GPIO25, GPIO26]", "cols: [GPIO23, GPIO24, GPIO25, GPIO26]\n      d0: GPIO4",
			"hardware.keypads[0] (line 28): a matrix keypad has rows and cols, not d0"},
		{"bad default size", "default_size: M", "default_size: XXL",
			`hardware.panel.default_size (line 37): must be S, M, L or XL, not "XXL"`},
		{"panel idle too short", "idle: 90s", "idle: 1s",
			"hardware.panel.idle (line 38): must be between 5s and 30m0s"},
		{"scanner silence too long", "silence: 80ms", "silence: 5s",
			"hardware.scanners[0].silence (line 26): must be between 10ms and 1s"},
		{"unknown board on the bus", "{driver: bus0, board: 0, lock: 2}", "{driver: bus0, board: 3, lock: 2}",
			`compartments[1].door.board (line 41): board 3 is not declared on "bus0"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := mixed(t)
			if !strings.Contains(doc, tc.old) {
				t.Fatalf("example lacks %q", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(doc, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDocExamplesParse keeps the configs in docs/hardware.md valid: an installer copies
// them.
func TestDocExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../../docs/hardware.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 2 {
		t.Fatalf("docs/hardware.md has %d yaml examples, want at least 2", len(blocks))
	}
	for i, b := range blocks {
		if _, err := Parse([]byte(edited(string(b[1])))); err != nil {
			t.Errorf("example %d: %v", i+1, err)
		}
	}
}
