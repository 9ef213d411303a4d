package fleet

import (
	"fmt"
	"testing"
)

// TestDroppedMessagesAreLoggedSparingly: of a flood of forgeries from one locker, the
// 1st, 2nd, 4th, … are logged, each counted.
func TestDroppedMessagesAreLoggedSparingly(t *testing.T) {
	v := newTagVerifier(func(string) []byte { return nil })
	var logged []uint64
	for range 100 {
		if ok, n := v.shouldLog("L1"); ok {
			logged = append(logged, n)
		}
	}
	if ok, n := v.shouldLog("L2"); !ok || n != 1 {
		t.Fatalf("another locker's first forgery: logged %v, count %d", ok, n)
	}
	if fmt.Sprint(logged) != "[1 2 4 8 16 32 64]" {
		t.Fatalf("logged the forgeries numbered %v", logged)
	}
}
