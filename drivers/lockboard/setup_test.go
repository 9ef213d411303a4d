package lockboard_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/driver"
	"github.com/lockerd/lockerd/drivers/driver/drivertest"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/locker"
)

func TestSettingsCheck(t *testing.T) {
	good := lockboard.Settings{Name: "bus0", Port: "/dev/ttyUSB0", Protocol: "cu16",
		Boards: []lockboard.BoardSettings{{Addr: 0}, {Addr: 1, Locks: 8}}}
	var c drivertest.Check
	good.Check(&c, "hardware.lockboards[0]")
	if len(c.Fails) != 0 || !slices.Equal(c.Names, []string{"bus0"}) || !slices.Equal(c.Ports, []string{"/dev/ttyUSB0"}) {
		t.Fatalf("%+v", c)
	}
	bad := good
	bad.Protocol = "8a"
	bad.Boards = []lockboard.BoardSettings{{Addr: 0, DoorSensors: true}, {Addr: 2, Locks: 30, Polarity: "inverted"}, {Addr: 2}}
	c = drivertest.Check{}
	bad.Check(&c, "p")
	for _, want := range []string{
		"p.boards[0].addr: must be 1..255 for 8a",
		"p.boards[0].door_sensors: 8a boards have no sensor inputs",
		"p.boards[1].locks: must be 1..24",
		`p.boards[1].polarity: must be set-closed or set-open, not "inverted"`,
		"p.boards[2].addr: duplicate board address 2 on this bus",
	} {
		if !slices.Contains(c.Fails, want) {
			t.Errorf("no %q in %q", want, c.Fails)
		}
	}

	for _, tt := range []struct {
		board, lock int
		key, fail   string
	}{
		{0, 16, "lock bus0/0/16", ""},
		{1, 9, "", "p.lock: must be 1..8 on board 1"},
		{5, 1, "", `p.board: board 5 is not declared on "bus0"`},
	} {
		c = drivertest.Check{}
		key, ok := good.CheckDoor(&c, "p", "bus0", tt.board, tt.lock)
		if key != tt.key || ok != (tt.fail == "") || (tt.fail != "" && !slices.Equal(c.Fails, []string{tt.fail})) {
			t.Errorf("door %d/%d: %q %v %q", tt.board, tt.lock, key, ok, c.Fails)
		}
	}
}

// TestSettingsLine: the line speed must be one the port opens at, and reply_timeout
// must leave a reply time to arrive at that speed (a 9-byte CU16 reply is 4.7ms at
// 19200 baud, a 7-byte 8A reply 7.3ms at 9600).
func TestSettingsLine(t *testing.T) {
	for _, tt := range []struct {
		name     string
		protocol string
		baud     int
		timeout  time.Duration
		want     string
	}{
		{"defaults", "cu16", 0, 0, ""},
		{"negative baud", "cu16", -5, 0, "p.baud: must be a standard rate such as 9600 or 19200 (the boards' setting; cu16 boards ship at 19200), not -5"},
		{"odd baud", "8a", 12345, 0, "p.baud: must be a standard rate such as 9600 or 19200 (the boards' setting; 8a boards ship at 9600), not 12345"},
		{"1ms at 19200", "cu16", 0, time.Millisecond, "p.reply_timeout: 1ms is shorter than a 9-byte cu16 reply takes at 19200 baud (4.7ms) with the board's turnaround: at least 10ms (default 60ms)"},
		{"10ms at 19200", "cu16", 0, 10 * time.Millisecond, ""},
		{"10ms at 9600", "8a", 0, 10 * time.Millisecond, "p.reply_timeout: 10ms is shorter than a 7-byte 8a reply takes at 9600 baud (7.3ms) with the board's turnaround: at least 15ms (default 60ms)"},
		{"5ms at 115200", "cu16", 115200, 5 * time.Millisecond, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := lockboard.Settings{Name: "bus0", Port: "/dev/ttyUSB0", Protocol: tt.protocol, Baud: tt.baud, ReplyTimeout: tt.timeout,
				Boards: []lockboard.BoardSettings{{Addr: 1}}}
			var c drivertest.Check
			s.Check(&c, "p")
			if want := []string{tt.want}; (tt.want == "" && len(c.Fails) != 0) || (tt.want != "" && !slices.Equal(c.Fails, want)) {
				t.Fatalf("fails %q, want %q", c.Fails, tt.want)
			}
		})
	}
}

func TestSettingsOpen(t *testing.T) {
	var env drivertest.Env
	_, err := lockboard.Settings{Name: "bus0", Port: "/dev/null", Protocol: "cu17"}.Open(env.Env())
	if !driver.IsRefused(err) {
		t.Fatalf("unknown protocol: %v, want a refused config", err)
	}

	set := lockboardtest.Start(t, lockboardtest.Config{Protocol: lockboard.ProtocolCU16,
		Boards: []lockboardtest.BoardSpec{{Addr: 0, Locks: 4}}, Person: lockboardtest.OpenThenClose(20*time.Millisecond, -1),
		Logger: slog.New(slog.DiscardHandler)})
	s := lockboard.Settings{Name: "bus0", Port: set.Path(), Protocol: "cu16", Poll: 50 * time.Millisecond,
		Boards: []lockboard.BoardSettings{{Addr: 0, Locks: 4}}}
	l, err := s.Open(env.Env())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := l.Door(0, 3)
	if d.String() != "bus0 board 0 lock 3" || !d.Loaded() {
		t.Fatalf("door %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Unlock(ctx); err != nil && !errors.Is(err, locker.ErrUnlockUnconfirmed) {
		t.Fatal(err)
	}
	for !slices.Contains(env.Doors(), "0/3 open") {
		if ctx.Err() != nil {
			t.Fatalf("no door report: %q, health %q", env.Doors(), env.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if open, known := d.State(); !open || !known {
		t.Errorf("state %v %v", open, known)
	}
	// The bus reports its health from its own goroutine: the door's change may be
	// seen before the "ok" that the same poll brings (under qemu-user, often).
	for h := env.Health(); len(h) == 0 || h[len(h)-1] != "ok"; h = env.Health() {
		if ctx.Err() != nil {
			t.Fatalf("health %q", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Contains(l.Attrs, any("cu16")) {
		t.Errorf("attrs %v", l.Attrs)
	}
}
