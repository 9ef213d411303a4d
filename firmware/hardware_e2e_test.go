package firmware_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/lockerd/lockerd/drivers/gpiodoor"
	"github.com/lockerd/lockerd/drivers/gpiodoor/gpiodoortest"
	"github.com/lockerd/lockerd/drivers/keypad"
	"github.com/lockerd/lockerd/drivers/lockboard"
	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/drivers/scanner"
	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/internal/testenv"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// TestAllHardwareEndToEnd runs lockerd in-process on a sim station with every kind of
// hardware: a CU16 board on a pty, GPIO relay doors on fake pins, a scanner on a pty
// and a matrix keypad. A courier logs in and deposits at the front panel, recipients
// pick up by keypad and by QR, and afterwards every driver is healthy, only the right
// doors were pulsed, the log holds no secret, and the relays are off after shutdown.
func TestAllHardwareEndToEnd(t *testing.T) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	person := 30 * time.Millisecond
	st, err := sim.NewStation(sim.StationOptions{LockerID: "E2E-HW", Dir: t.TempDir(), Cloud: cloud, Boards: 1, Locks: 6,
		Person: lockboardtest.OpenThenClose(person, 200*time.Millisecond),
		Hardware: sim.HardwareOptions{GPIODoors: 3, Scanner: true, Keypad: true,
			GPIOPerson: gpiodoortest.OpenThenClose(person, 200*time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	events := sim.NewEvents(1024)
	hwCh := make(chan *firmware.Hardware, 1)
	ready := make(chan struct{})
	opt := st.Options()
	opt.Observer, opt.Ready = events.Observe, func() { close(ready) }
	opt.Hardware.Opened = func(h *firmware.Hardware) { hwCh <- h }
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- firmware.Run(runCtx, st.Config, log, opt) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("lockerd did not start: %v", err)
	}
	hw := <-hwCh
	waitHealthy(t, hw, map[string]string{"bus0": lockboard.DriverKind.Name, sim.GPIODriver: gpiodoor.DriverKind.Name,
		sim.ScannerDriver: scanner.DriverKind.Name, sim.KeypadDriver: keypad.DriverKind.Name})

	cl := st.Client()
	defer cl.Close()
	id, err := cl.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	badge, pin := "E2E-BADGE-5150-ABCDEFGHIJKLMNOPQRSTU", "8642"
	cred, _ := cloud.CourierRequest(id.LockerID, "c-9", badge, pin, locker.Rights{Deposit: true})
	if err := cl.UpsertCourier(ctx, cred); err != nil {
		t.Fatal(err)
	}
	small, large := cloud.NewParcel("S"), cloud.NewParcel("XL")
	var batch []control.Announcement
	for _, p := range []sim.Parcel{small, large} {
		a, err := cloud.Announcement(id.LockerID, p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, a)
	}
	if _, err := cl.Announce(ctx, batch); err != nil {
		t.Fatal(err)
	}

	pad, scanner, screens := st.Keypad, st.Scanner, st.Screens
	expect := func(what string, want panel.Prompt) panel.Screen {
		t.Helper()
		sc, err := screens.Wait(ctx, 10*time.Second, func(s panel.Screen) bool { return s.Prompt != panel.PromptTyping })
		if err != nil || sc.Prompt != want {
			t.Fatalf("%s: panel shows %+v (%v), want %s", what, sc, err, want)
		}
		return sc
	}
	typeKeys := func(keys string) {
		t.Helper()
		// Held and paused as a person does (a fifth of a second each), well past the
		// matrix's 20 ms debounce: lockerd is another process here, so the test cannot pace
		// itself by its scans (drivers/keypad's tests do), and a stall of a loaded machine
		// longer than a shorter press loses the key.
		if err := pad.Type(ctx, keys, 200*time.Millisecond, 200*time.Millisecond, 1); err != nil {
			t.Fatal(err)
		}
	}
	expect("start", panel.PromptWelcome)
	if err := scanner.Type(panel.PrefixBadge + badge); err != nil {
		t.Fatal(err)
	}
	expect("badge", panel.PromptEnterPIN)
	typeKeys(pin + "#")
	expect("login", panel.PromptSessionOpen)
	doorOf := map[string]locker.Slot{}
	for _, p := range []sim.Parcel{small, large} {
		if err := scanner.Type(p.Tracking); err != nil {
			t.Fatal(err)
		}
		slot := expect("deposit", panel.PromptDeposit).Slots[0]
		doorOf[p.ID] = slot
		if _, err := events.Wait(ctx, 10*time.Second, func(e locker.Event) bool {
			return e.Type == locker.EvDeposited && e.Parcel == slot.Parcel
		}); err != nil {
			t.Fatalf("deposit of %s in %s: %v", p.ID, slot.Label, err)
		}
	}
	typeKeys("#")
	expect("logout", panel.PromptSessionClosed)
	if !strings.HasPrefix(doorOf[small.ID].Label, "A") || !strings.HasPrefix(doorOf[large.ID].Label, "G") {
		t.Fatalf("doors %+v: want the small parcel on the CU16 board, the large one behind a GPIO door", doorOf)
	}

	typeKeys(large.Code + "#")
	expect("the phone prompt", panel.PromptPhone)
	typeKeys(large.Phone + "#")
	if sc := expect("pickup by keypad", panel.PromptDoorsOpen); sc.Slots[0].Label != doorOf[large.ID].Label {
		t.Fatalf("keypad pickup opened %+v", sc.Slots)
	}
	if err := scanner.Type(panel.PrefixQR + small.QR); err != nil {
		t.Fatal(err)
	}
	if sc := expect("pickup by QR", panel.PromptDoorsOpen); sc.Slots[0].Label != doorOf[small.ID].Label {
		t.Fatalf("QR pickup opened %+v", sc.Slots)
	}
	for range 2 {
		if _, err := events.Wait(ctx, 10*time.Second, func(e locker.Event) bool { return e.Type == locker.EvPickedUp }); err != nil {
			t.Fatal(err)
		}
	}
	gpioPulses := 0
	for i := range 3 {
		gpioPulses += st.Cabinet.Pulses(fmt.Sprintf("g%d", i+1))
	}
	if gpioPulses != 2 {
		t.Errorf("GPIO doors pulsed %d times, want 2 (deposit and pickup of the large parcel)", gpioPulses)
	}

	stop()
	if err := <-done; err != nil {
		t.Fatalf("lockerd stopped with %v", err)
	}
	for i := range 3 {
		relay := st.Cabinet.Pin(fmt.Sprintf("GPIO%d", 100+i))
		outs := relay.Outs()
		if len(outs) == 0 || outs[len(outs)-1].Level != gpio.High {
			t.Errorf("relay %s not left off (active-low: high) after shutdown: %v", relay, outs)
		}
	}
	for _, secret := range []string{badge, pin, small.Tracking, large.Tracking, small.Code, large.Code, small.QR, large.QR} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a secret %q", secret)
		}
	}
}

// waitHealthy polls Health until each named driver is loaded and OK.
func waitHealthy(t *testing.T, hw *firmware.Hardware, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := 0
		got := hw.Health()
		for _, d := range got {
			if kind, wanted := want[d.Name]; wanted && d.Kind == kind && d.Load == firmware.Loaded && d.OK {
				ok++
			}
		}
		if ok == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("drivers not all healthy: %+v", got)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline: Health has no change feed
	}
}
