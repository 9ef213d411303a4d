package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestIntFieldsBeyond32Bits: a body's int fields are 32 bits wide on linux/arm (Pi
// Zero, 32-bit Pi OS) and 64 on the cloud's machines. A number that only a 64-bit int
// holds is refused on both, at the field, rather than accepted on one and refused, or
// wrapped, on the other. make test-arm runs this on linux/arm.
func TestIntFieldsBeyond32Bits(t *testing.T) {
	for _, limit := range []string{"4294967297", "2147483648", "-2147483649", "9223372036854775807"} {
		_, err := protocol.DecodeBody(protocol.CmdAuditRange, json.RawMessage(`{"from":1,"limit":`+limit+`}`))
		var se *protocol.SchemaError
		if !errors.As(err, &se) || se.Path != "body.limit" {
			t.Errorf("limit %s: %v, want a schema error at body.limit", limit, err)
		}
	}
	if _, err := protocol.DecodeBody(protocol.CmdAuditRange, json.RawMessage(`{"from":4294967297,"limit":500}`)); err != nil {
		t.Errorf("from beyond 32 bits (a uint64): %v", err)
	}
}
