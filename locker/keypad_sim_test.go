package locker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The keypad simulation of issue 12 (docs/adr/0046-keypad-guessing-budget.md,
// docs/benchmarks.md): 30 simulated days under the default policy, 200 parcels waiting
// throughout, an attacker guessing at full speed on the control socket, and honest
// recipients coming through the day, half of them keypad-only (code and phone digits,
// typed slowly, one in three with a typo first), half with their pickup QR. Time is
// testing/synctest's: the station runs on the wall clock of the bubble, nothing waits
// for real.
//
//	go test -run TestKeypadSimulation -v ./locker/
const (
	simDays         = 30
	simParcels      = 200
	simPickupsADay  = 48 // one recipient every 30 minutes, alternately keypad-only and QR
	simReadTime     = 10 * time.Second
	simPerKey       = 1500 * time.Millisecond
	simTypoEvery    = 3 // every third keypad recipient gets the phone digits wrong first
	simHonestTarget = 2 * time.Minute
)

// simParcel is what a recipient holds: the code, their phone's last four, the QR.
type simParcel struct {
	id          ParcelID
	code, phone string
	qr          string
	compartment CompartmentID
}

func TestKeypadSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("30 simulated days")
	}
	synctest.Test(t, func(t *testing.T) {
		specs := make([]CompartmentSpec, simParcels)
		for i := range specs {
			specs[i] = CompartmentSpec{ID: CompartmentID(i + 1), Size: SizeS, Kind: KindDoor}
		}
		f := newFixture(t, specs)
		f.opt.Clock = SystemClock // the bubble's clock: synctest moves it
		f.opt.Observer = nil
		f.restart()
		pol := f.st.Policy()
		if pol.CodeEntry != DefaultPolicy().CodeEntry {
			t.Fatalf("not the default policy: %+v", pol.CodeEntry)
		}

		// 200 parcels, each behind its own door; a picked-up one is replaced at once.
		parcels := make([]simParcel, simParcels)
		var seq int
		place := func(i int) {
			seq++
			p := simParcel{id: ParcelID(fmt.Sprintf("s-%d", seq)), code: fmt.Sprintf("%08d", mrand.IntN(100_000_000)),
				phone: fmt.Sprintf("%04d", mrand.IntN(10_000)), qr: rand.Text(), compartment: CompartmentID(i + 1)}
			f.st.mu.Lock()
			defer f.st.mu.Unlock()
			if err := f.st.update(func(t *txn) error {
				ep := f.st.epochOf(t.now)
				wb, _ := f.st.index.Seal(ep, f.cloud.Waybill(fmt.Sprintf("%015d", int64(100_000_000_000)+int64(seq))))
				cv, _ := f.st.index.Seal(ep, f.cloud.CodeVerifier2(p.code, p.phone))
				qv, _ := f.st.index.Seal(ep, f.cloud.QRVerifier(p.qr))
				c := t.comp(p.compartment)
				c.Parcels = []ParcelID{p.id}
				c.Generation++
				return t.putParcel(nil, &Parcel{ID: p.id, Epoch: ep, Waybill: wb, CodeVerifier: cv, QRVerifier: qv,
					Size: SizeS, State: StateDeposited, Announced: true, Compartment: p.compartment,
					ExpiresAt: t.now.Add(365 * 24 * time.Hour)})
			}); err != nil {
				t.Fatal(err)
			}
			parcels[i] = p
		}
		for i := range parcels {
			place(i)
		}

		ctx, stop := context.WithCancel(context.Background())
		var guesses, attackerDoors atomic.Int64
		// The loop's guard only: were the gate broken, the attacker would never block and
		// simulated time would stand still.
		guard := int64(2*simDays*24*time.Hour/pol.CodeEntry.Delay) + 1
		var wg sync.WaitGroup
		wg.Go(func() { // the attacker: a machine on the control socket, never pausing
			actx := WithInput(ctx, InputControl)
			for ctx.Err() == nil && guesses.Load() <= guard {
				res, err := f.st.EnterCode(actx, fmt.Sprintf("%08d", mrand.IntN(100_000_000)), fmt.Sprintf("%04d", mrand.IntN(10_000)))
				switch {
				case err == nil:
					guesses.Add(1)
					attackerDoors.Add(int64(len(res.Slots)))
				case errors.Is(err, ErrWrongCode):
					guesses.Add(1)
				case ctx.Err() != nil:
				default:
					t.Errorf("attacker: %v", err)
					return
				}
			}
		})

		var worstKeypad, sumKeypad time.Duration
		var keypadPickups, qrPickups, qrRefused, typos int
		start := time.Now()
		for n := 0; n < simDays*simPickupsADay; n++ {
			time.Sleep(24 * time.Hour / simPickupsADay)
			i := mrand.IntN(simParcels)
			p := parcels[i]
			arrived := time.Now()
			var res Pickup
			var err error
			if n%2 == 1 {
				res, err = f.st.EnterQR(WithInput(context.Background(), InputScanner), p.qr)
				if err != nil || len(res.Slots) != 1 {
					qrRefused++
					t.Errorf("QR pickup %d refused: %v", n, err)
					continue
				}
				qrPickups++
			} else {
				kctx := WithInput(context.Background(), InputKeypad)
				typing := simReadTime + time.Duration(len(p.code)+1+len(p.phone)+1)*simPerKey
				if (n/2)%simTypoEvery == 0 {
					time.Sleep(typing)
					wrong := fmt.Sprintf("%04d", (mrand.IntN(9999)+1+atoiSim(p.phone))%10_000)
					if _, err := f.st.EnterCode(kctx, p.code, wrong); !errors.Is(err, ErrWrongCode) {
						t.Fatalf("typo: %v", err)
					}
					typos++
				}
				time.Sleep(typing)
				res, err = f.st.EnterCode(kctx, p.code, p.phone)
				if err != nil || len(res.Slots) != 1 || res.Slots[0].Compartment != p.compartment {
					t.Fatalf("keypad pickup %d: %+v %v", n, res, err)
				}
				wait := time.Since(arrived)
				worstKeypad = max(worstKeypad, wait)
				sumKeypad += wait
				keypadPickups++
			}
			f.door(p.compartment, true)
			f.door(p.compartment, false)
			if got := f.parcel(p.id); got.State != StatePickedUp {
				t.Fatalf("parcel %s after its pickup: %s", p.id, got.State)
			}
			place(i)
		}
		elapsed := time.Since(start)
		stop()
		wg.Wait()

		g := guesses.Load()
		// Every failed evaluation, the attacker's and the typos, passed the gate: at
		// most one per delay.
		bound := int64(elapsed/pol.CodeEntry.Delay) + 1
		t.Logf("%v simulated, %d parcels waiting, D = %v, L = %d+4: attacker made %d guesses (gate bound %d with %d typos), opened %d doors",
			elapsed.Round(time.Hour), simParcels, pol.CodeEntry.Delay, pol.CodeEntry.MinLength, g, bound, typos, attackerDoors.Load())
		t.Logf("honest: %d keypad-only pickups, worst wait %v, mean %v; %d QR pickups, %d refused",
			keypadPickups, worstKeypad, sumKeypad/time.Duration(max(keypadPickups, 1)), qrPickups, qrRefused)
		if g+int64(typos) > bound {
			t.Errorf("%d failed evaluations (%d guesses, %d typos) in %v, more than the gate allows (%d)", g+int64(typos), g, typos, elapsed, bound)
		}
		if g < bound*9/10 {
			t.Errorf("the attacker made only %d guesses: not at full speed (bound %d)", g, bound)
		}
		if attackerDoors.Load() != 0 {
			t.Errorf("the attacker opened %d doors", attackerDoors.Load())
		}
		if qrRefused != 0 {
			t.Errorf("%d QR pickups refused", qrRefused)
		}
		if worstKeypad > simHonestTarget {
			t.Errorf("worst keypad-only wait %v, more than %v", worstKeypad, simHonestTarget)
		}
	})
}

func atoiSim(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
