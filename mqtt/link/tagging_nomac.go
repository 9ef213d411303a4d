//go:build lockerd_bench_nomac

package link

// tagMessages is false only in the build that firmware's BenchmarkCloudAnnounce
// (ANNOUNCE_NOMAC=1) runs beside the real one, to measure what the device MAC costs
// in the same run. A fleet that verifies drops every message of this build.
const tagMessages = false
