package serialport

import "slices"

// Rates are the line speeds a serial port can be opened at: the kernel's standard
// rates that go.bug.st/serial maps to termios constants, which refuses any other
// ("invalid serial port speed") every time the driver tries to open the port. Rates
// under 1200 are left out: no lock board or scanner uses them.
var Rates = []int{1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
	500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000}

// ValidRate reports whether a port can be opened at baud.
func ValidRate(baud int) bool { return slices.Contains(Rates, baud) }
