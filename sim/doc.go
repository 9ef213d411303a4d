// Package sim builds virtual lockers out of the same parts as real ones: the real
// lockerd (package firmware) driving, through the real drivers, virtual lock boards that
// speak the RS-485 byte protocol on a pseudo-terminal, GPIO relay doors on fake pins, a
// barcode scanner on a pseudo-terminal and a matrix keypad; and a simulated cloud that holds the fleet key,
// announces parcels with digests and "texts" each recipient a pickup code by printing
// it. A scripted scenario runs a courier deposit and a recipient pickup end to end.
package sim
