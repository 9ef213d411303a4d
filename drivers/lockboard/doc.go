// Package lockboard drives RS-485 lock-control boards (Kerong CU16-style and
// the generic 8A/80 boards) over a serial port.
//
// The package has two layers. The codecs (EncodeRequest, DecodeRequest,
// EncodeReply, DecodeReply) are pure functions over bytes, tested from byte
// transcripts and fuzzed. A Bus owns one serial port with several boards on
// it: it polls their status, turns bit changes into Change callbacks,
// serialises Unlock commands with the polling, and recovers from a dead or
// unplugged port by reopening it by path with backoff.
//
// The package speaks only in board and lock numbers; it knows nothing about
// compartments, parcels or the cloud.
package lockboard
