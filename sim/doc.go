// Package sim builds virtual lockers out of the same parts as real ones: the real
// lockerd (package firmware) driving, through the real drivers, virtual lock boards that
// speak the RS-485 byte protocol on a pseudo-terminal, GPIO relay doors on fake pins, a
// barcode scanner on a pseudo-terminal and a matrix keypad; and a simulated cloud that holds the fleet key,
// announces parcels with digests and "texts" each recipient a pickup code by printing
// it. A scripted scenario runs a courier deposit and a recipient pickup end to end, and
// a page in the browser (Web) lets a person play courier and recipient: its keypad and
// scanner go through the real drivers, its door buttons are the virtual person's, and
// the cloud's texts are shown apart, as the cloud's, never as the locker's screen.
package sim
