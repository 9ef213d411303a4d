package main

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/mqtt/mqtttest"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// BenchmarkFleetView: lockerctl fleet over 1,000 lockers' retained presences on one
// Mosquitto, beside mosquitto_sub reading the same retained topics (issue 16's
// benchmark asks for the ratio). Each iteration is a whole run: connect, subscribe,
// every retained presence, and for lockerctl its quiet period and the output.
//
//	go test -run XXX -bench FleetView ./mqtt/fleet/cmd/lockerctl
func BenchmarkFleetView(b *testing.B) {
	const lockers = 1000
	broker, cfg := fakeSetup(b)
	cloud := mqtttest.MustConnect(b, broker.URL(), "cloud", "cp", nil)
	for i := range lockers {
		publishPresence(b, cloud, fmt.Sprintf("LK-%04d", i), protocol.Presence{State: protocol.Online, Boot: "b-1", Version: "1.4.2", Time: t0})
	}
	b.Run("lockerctl", func(b *testing.B) {
		for b.Loop() {
			var errOut strings.Builder
			code := runOn(b.Context(), []string{"-config", cfg, "fleet", "--json"}, strings.NewReader(""), io.Discard, &errOut, terminals{})
			if code != 0 || !strings.Contains(errOut.String(), strconv.Itoa(lockers)+" lockers") {
				b.Fatalf("exit %d: %s", code, errOut.String())
			}
		}
	})
	b.Run("mosquitto_sub", func(b *testing.B) {
		sub := mqtttest.Tool(b, "mosquitto_sub")
		port := strings.TrimPrefix(broker.URL(), "tcp://127.0.0.1:")
		for b.Loop() {
			out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", port, "-u", "cloud", "-P", "cp",
				"-t", "lockers/+/status", "-C", strconv.Itoa(lockers), "-W", "10").Output()
			if err != nil || strings.Count(string(out), "\n") != lockers {
				b.Fatalf("mosquitto_sub: %v, %d lines", err, strings.Count(string(out), "\n"))
			}
		}
	})
}
