package firmware_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/sim"
)

// TestSystemdNotifyAndCleanStop runs lockerd in-process under a fake systemd: a
// NOTIFY_SOCKET datagram socket and a watchdog interval. It must say READY=1 once
// serving, feed the watchdog, say STOPPING=1 on cancellation, return nil and release
// the serial port.
func TestSystemdNotifyAndCleanStop(t *testing.T) {
	sockPath := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "300000")

	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "SD-1", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 4,
		Person: lockboardtest.Stay()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, slog.New(slog.DiscardHandler), nil, nil) }()

	want := []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1"}
	buf := make([]byte, 512)
	for _, w := range want {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", w, err)
		}
		if !strings.HasPrefix(string(buf[:n]), w) {
			t.Fatalf("got %q, want %s", buf[:n], w)
		}
	}
	seq := st.Boards.LastSeq()
	cancel()
	for {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for STOPPING=1: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "STOPPING=1") {
			break
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancellation: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := st.Boards.WaitEvent(wctx, seq, func(e lockboardtest.Event) bool { return e.Kind == lockboardtest.EventDisconnect }); err != nil {
		t.Fatalf("the serial port was not released: %v", err)
	}
}

// TestDriversOnTheControlSocket: installers and the kiosk read each driver's state
// from the control socket.
func TestDriversOnTheControlSocket(t *testing.T) {
	cloud, _ := sim.NewCloud()
	st, err := sim.NewStation(sim.StationOptions{LockerID: "DRV-1", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 2,
		Person: lockboardtest.Stay()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx, slog.New(slog.DiscardHandler), nil, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	cl := st.Client()
	defer cl.Close()
	ds, err := cl.Drivers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Name != "bus0" || ds[0].Kind != "lockboard" || ds[0].Load != "loaded" || !ds[0].OK {
		t.Fatalf("drivers: %+v", ds)
	}
}
