package scanner_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/driver/drivertest"
	"github.com/lockerd/lockerd/drivers/scanner"
	"github.com/lockerd/lockerd/drivers/scanner/scannertest"
)

func TestSettingsCheck(t *testing.T) {
	var c drivertest.Check
	scanner.Settings{Name: "front", Port: "/dev/ttyACM0", Baud: -1, Silence: 5 * time.Second, MaxLen: 5000}.Check(&c, "p")
	want := []string{
		"p.baud: must be a standard rate up to 921600 such as 9600 (usual for RS-232 scanners), not -1",
		"p.silence: must be between 10ms and 1s (80ms suits scanners without a suffix)",
		"p.max_len: must be 1..4096 bytes",
	}
	if !slices.Equal(c.Fails, want) || !slices.Equal(c.Names, []string{"front"}) || !slices.Equal(c.Ports, []string{"/dev/ttyACM0"}) {
		t.Fatalf("%+v", c)
	}
}

// TestSettingsBaud: only the rates the serial port opens at pass; 0 is the default.
func TestSettingsBaud(t *testing.T) {
	for baud, ok := range map[int]bool{0: true, 9600: true, 115200: true, 921600: true, 12345: false, -5: false, 1000000: false} {
		var c drivertest.Check
		scanner.Settings{Name: "front", Port: "/dev/ttyACM0", Baud: baud}.Check(&c, "p")
		if (len(c.Fails) == 0) != ok {
			t.Errorf("baud %d: %q", baud, c.Fails)
		}
	}
}

func TestSettingsOpen(t *testing.T) {
	var env drivertest.Env
	if _, err := (scanner.Settings{Name: "front"}).Open(env.Env()); !driver.IsRefused(err) {
		t.Fatalf("no port: %v, want a refused config", err)
	}
	sc := scannertest.Start(t, scannertest.Config{Suffix: scannertest.SuffixCR, Logger: slog.New(slog.DiscardHandler)})
	l, err := scanner.Settings{Name: "front", Port: sc.Path()}.Open(env.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Input || l.Door != nil {
		t.Fatalf("%+v", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for !slices.Contains(env.Health(), "ok") {
		if ctx.Err() != nil {
			t.Fatalf("health %q", env.Health())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := sc.Type("JD014600006101234567"); err != nil {
		t.Fatal(err)
	}
	for len(env.Inputs()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("no scan")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if in := env.Inputs()[0]; string(in.Scan) != "JD014600006101234567" {
		t.Errorf("%+v", in)
	}
}
