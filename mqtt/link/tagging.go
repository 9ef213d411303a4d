//go:build !lockerd_bench_nomac

package link

// tagMessages says whether events and replies carry the device MAC
// (docs/adr/0050-authenticated-events.md): always, in every build but the one the
// announce benchmark compares against (build tag lockerd_bench_nomac, see
// tagging_nomac.go), which is never shipped.
const tagMessages = true
