package cloudlink

import (
	"context"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/firmware/update"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

type fakeUpdates struct {
	err    error
	orders []update.Order
}

func (f *fakeUpdates) Start(_ context.Context, o update.Order, _ func(error)) error {
	f.orders = append(f.orders, o)
	return f.err
}

// TestUpdateCommand: the reply of an update command, and the order it hands over.
func TestUpdateCommand(t *testing.T) {
	body := &protocol.UpdateBody{URL: "https://r.example/l.deb", Version: "1.2.0-1", SHA256: protocol.Digest{0xab}, Manifest: "a.b.c"}
	cmd := &protocol.Command{Claims: protocol.Claims{Jti: "c-1", Typ: protocol.CmdUpdate}, Parsed: body}

	if res := (&commandHandler{}).handle(context.Background(), cmd); res.Status != protocol.StatusRefused || res.Reason != protocol.ReasonNotSupported {
		t.Errorf("without updates: %+v", res)
	}
	f := &fakeUpdates{}
	res := (&commandHandler{updates: f}).handle(context.Background(), cmd)
	if res.Status != protocol.StatusDone || len(f.orders) != 1 {
		t.Fatalf("accepted update: %+v, orders %v", res, f.orders)
	}
	if o := f.orders[0]; o.Command != "c-1" || o.SHA256 != body.SHA256.Hex() || o.Manifest != "a.b.c" || o.Version != "1.2.0-1" {
		t.Errorf("order %+v", o)
	}
	f.err = &update.Refusal{Reason: update.ReasonCommandKey, Detail: "manifest signed by a command key, not a release key"}
	res = (&commandHandler{updates: f}).handle(context.Background(), cmd)
	if res.Status != protocol.StatusRefused || res.Reason != protocol.ReasonReleaseRefused || !strings.HasPrefix(res.Detail, "command_key: ") {
		t.Errorf("refused update: %+v", res)
	}
}
