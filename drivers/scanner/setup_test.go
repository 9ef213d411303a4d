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
		"p.baud: must be a baud rate up to 921600 (9600 is usual for RS-232 scanners)",
		"p.silence: must be between 10ms and 1s (80ms suits scanners without a suffix)",
		"p.max_len: must be 1..4096 bytes",
	}
	if !slices.Equal(c.Fails, want) || !slices.Equal(c.Names, []string{"front"}) || !slices.Equal(c.Ports, []string{"/dev/ttyACM0"}) {
		t.Fatalf("%+v", c)
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
