package tpm

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/lockerd/lockerd/internal/tpmtest"
	"github.com/lockerd/lockerd/locker/privacy"
)

// countingTPM counts the bytes of every command and response that crosses the
// transport: what an SPI TPM's FIFO would carry.
type countingTPM struct {
	transport.TPM
	cmds, cmdBytes, rspBytes int
}

func (c *countingTPM) Send(cmd []byte) ([]byte, error) {
	rsp, err := c.TPM.Send(cmd)
	c.cmds++
	c.cmdBytes += len(cmd)
	c.rspBytes += len(rsp)
	return rsp, err
}

// The SPI facts the bound rests on (docs/privacy.md §6). The SLB 9670's clock limit
// is its datasheet's ("SPI interface up to 43 MHz", OPTIGA TPM SLB/SLM 9670 TPM2.0
// data sheets); the framing is the TCG PC Client Platform TPM Profile's SPI protocol:
// every transaction starts with a 4-byte header (read/write and size, then a 3-byte
// register address) and carries at most 64 bytes.
const (
	slb9670MaxSPIHz = 43_000_000
	spiHeaderBytes  = 4
	spiMaxTransfer  = 64
)

// spiBytes is the fewest bytes the bus carries for one FIFO transfer of n bytes: n,
// plus a header for every 64 of them. The register traffic every command also needs
// (commandReady, tpmGo, burst-count and status reads) is left out, so that the rate
// below is an upper bound that no SLB 9670 can beat, however fast its core.
func spiBytes(n int) int {
	return n + spiHeaderBytes*((n+spiMaxTransfer-1)/spiMaxTransfer)
}

// TestMACBusBound measures what one code guess costs on a TPM's bus — the bytes of
// the TPM2_HMAC command and response that Store.MAC exchanges for a resident key —
// and turns them into the most guesses per second an SPI TPM clocked at the SLB
// 9670's datasheet maximum can answer. docs/privacy.md §6 quotes both figures: the
// bound must stay below the rate at which a code of ADR 0046 (10^12, the default)
// would fall in under 30 days. The test fails if the command grows or shrinks
// enough to move that conclusion, or if MAC stops going through the TPM at all.
func TestMACBusBound(t *testing.T) {
	sw := tpmtest.Start(t)
	f := newFleet(t)
	count := &countingTPM{TPM: sw.TPM()}
	s, err := Open(Options{StateDir: stateDir(t), TPM: count, FleetPublic: f.public, LockerID: lockerID,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The code's key loaded once; then every guess is one TPM2_HMAC over the
	// shortest default secret (8 digits and the phone's last four): the smallest
	// command, so the highest rate.
	guess := func(i int) {
		t.Helper()
		if _, err := privacy.CodeDigest2(s, fmt.Sprintf("%08d", i), "0042"); err != nil {
			t.Fatal(err)
		}
	}
	guess(0)
	const guesses = 100
	*count = countingTPM{TPM: count.TPM}
	for i := range guesses {
		guess(i)
	}
	if count.cmds != guesses {
		t.Fatalf("%d guesses took %d TPM commands, want one each", guesses, count.cmds)
	}
	cmd, rsp := count.cmdBytes/guesses, count.rspBytes/guesses
	bus := spiBytes(cmd) + spiBytes(rsp)
	rate := float64(slb9670MaxSPIHz) / float64(8*bus)
	const month = 30 * 24 * 3600
	thresholdScheme2 := 1e12 / month // r at which 10^12 guesses take 30 days
	thresholdLegacy := 1e8 / month
	t.Logf("TPM2_HMAC per guess: %d command + %d response bytes = %d bytes on the SPI bus at least; "+
		"at 43 MHz at most %.0f guesses/s: 10^12 in %.0f days, 10^8 in %.0f minutes",
		cmd, rsp, bus, rate, 1e12/rate/86400, 1e8/rate/60)
	if rate >= thresholdScheme2 {
		t.Errorf("bus bound %.0f/s is not below the 30-day rate for 10^12 (%.0f/s): docs/privacy.md §6 no longer holds", rate, thresholdScheme2)
	}
	if rate < thresholdLegacy {
		t.Errorf("bus bound %.0f/s is below the 30-day rate for 10^8 (%.1f/s): docs/privacy.md §6 says legacy codes fall", rate, thresholdLegacy)
	}
}
