// Package sim builds virtual lockers out of the same parts as real ones: the real
// lockerd (package firmware) driving virtual lock boards that speak the real RS-485
// byte protocol on pseudo-terminals, and a simulated cloud that holds the fleet key,
// announces parcels with digests and "texts" each recipient a pickup code by printing
// it. A scripted scenario runs a courier deposit and a recipient pickup end to end.
package sim
