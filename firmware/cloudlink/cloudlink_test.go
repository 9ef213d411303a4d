package cloudlink

import (
	"testing"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

func TestWireVersion(t *testing.T) {
	for in, want := range map[string]string{"v1.2.3-4-gabc-dirty": "v1.2.3-4-gabc-dirty", "": "unknown", "a b/c": "a_b_c"} {
		if got := wireVersion(in); got != want || !protocol.ValidID(got) {
			t.Errorf("wireVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
