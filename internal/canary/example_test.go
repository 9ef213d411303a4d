package canary_test

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lockerd/lockerd/internal/canary"
)

// A test records what a component wrote, registers it as a surface and scans it.
// Here the leak is a tracking number logged as []byte by slog's JSON handler, which
// writes it as base64: a plain search would miss it.
func Example() {
	h, err := canary.New(map[string]string{"tracking #0": "RB987654326GB"})
	if err != nil {
		panic(err)
	}
	var log strings.Builder
	slog.New(slog.NewJSONHandler(&log, nil)).Info("scan", "raw", []byte("RB987654326GB"))
	var rec canary.Record
	rec.Add("lockerd log", []byte(log.String()))
	if err := h.Register(rec.Surface("log", canary.KindLog)); err != nil {
		panic(err)
	}
	r, err := h.Scan()
	if err != nil {
		panic(err)
	}
	for _, hit := range r.Hits {
		fmt.Println(hit)
	}
	fmt.Println("self-check:", h.SelfCheck())
	// Output:
	// log "log": lockerd log holds canary tracking #0 (base64)
	// self-check: <nil>
}
