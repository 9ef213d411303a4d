package sim

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/lockerd/lockerd/internal/canary"
)

// pageCanaries are the secrets of the page's play: every parcel's tracking number,
// pickup code and QR secret, and the courier's badge token and PIN.
func pageCanaries(r *webRig, bag []bagItem, pin string) map[string]string {
	r.web.world.mu.Lock()
	defer r.web.world.mu.Unlock()
	out := map[string]string{"courier badge": r.web.world.badge, "courier PIN": pin}
	for i, it := range bag {
		p := r.web.world.parcels[it.Parcel]
		out[fmt.Sprintf("tracking #%d", i)] = p.Tracking
		out[fmt.Sprintf("code #%d", i)] = p.Code
		out[fmt.Sprintf("qr #%d", i)] = p.QR
	}
	return out
}

// scanPage scans the page (HTML, script, style) and the panel stream for the play's
// canaries, and checks that the cloud's stream is where the codes and PIN went.
func scanPage(t *testing.T, r *webRig, panelStream, cloudStream *stream, bag []bagItem, texts map[string][2]string, pin string) {
	t.Helper()
	canaries := pageCanaries(r, bag, pin)
	h, err := canary.New(canaries)
	if err != nil {
		t.Fatal(err)
	}
	var page, streams canary.Record
	for _, path := range []string{"/", "/app.js", "/style.css"} {
		page.Add(path, r.get(path))
	}
	streams.Add("/api/panel", panelStream.bytes())
	surfaces := []canary.Surface{page.Surface("sim page", canary.KindPage), streams.Surface("sim panel stream", canary.KindPage)}
	surfaces[0].Expect = []string{"The cloud's text messages", "EventSource"}
	surfaces[1].Expect = []string{"doors_open", "session_closed", `"state":"jammed"`}
	for _, s := range surfaces {
		if err := h.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	h.Check(t)

	// The control: the cloud's stream, which the scan leaves out, does hold them.
	sms := cloudStream.bytes()
	for p, tx := range texts {
		if !bytes.Contains(sms, []byte(tx[0])) {
			t.Errorf("the cloud's stream lacks the code of %s", p)
		}
	}
	if !bytes.Contains(sms, []byte(pin)) {
		t.Error("the cloud's stream lacks the courier's PIN")
	}
}
