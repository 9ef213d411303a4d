package sim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
)

// world is the page's people and the simulated cloud around the station: the
// courier's phone (badge and PIN) and bag of parcels, the recipients' phones (their
// texts, codes and QRs). Everything here is outside the locker: the codes and PIN
// in its messages exist, in a real fleet, only in the cloud and in people's phones.
type world struct {
	w *Web

	deliverMu sync.Mutex // one delivery at a time

	mu         sync.Mutex
	badge, pin string            // the page's courier
	parcels    map[string]Parcel // made from the page, by id
	bag        []string          // ids the courier still carries
	unknown    map[string]bool   // parcels of the bag the cloud did not announce
	msgs       []message
	seq        int
}

// message is one text from the cloud to a phone. Show names what the phone can show
// to the locker's scanner ("badge", "qr"), with Parcel for a QR.
type message struct {
	Seq    int    `json:"seq"`
	At     string `json:"at"`
	To     string `json:"to"`
	Text   string `json:"text"`
	Show   string `json:"show,omitempty"`
	Parcel string `json:"parcel,omitempty"`
}

// bagItem is a parcel in the courier's bag: its label shows a masked number (the
// page's scan button types the whole number into the scanner, as the label would).
type bagItem struct {
	Parcel      string `json:"parcel"`
	Size        string `json:"size"`
	Label       string `json:"label"`
	Unannounced bool   `json:"unannounced,omitempty"` // the courier chooses its size at the panel
}

const maxMessages = 200

func newWorld(w *Web) *world {
	return &world{w: w, parcels: map[string]Parcel{}, unknown: map[string]bool{}}
}

// text sends a message to a phone: it appears in the page's cloud panel.
func (c *world) text(to, text, show, parcel string) {
	c.mu.Lock()
	c.seq++
	m := message{Seq: c.seq, At: time.Now().Format("15:04:05"), To: to, Text: text, Show: show, Parcel: parcel}
	c.msgs = append(c.msgs, m)
	if len(c.msgs) > maxMessages {
		c.msgs = c.msgs[len(c.msgs)-maxMessages:]
	}
	c.mu.Unlock()
	c.w.cloud.publish("sms", m, false)
}

// Text shows a message the cloud sends to a phone (the scripted scenario's texts) in
// the page's cloud panel.
func (w *Web) Text(to, text string) { w.world.text(to, text, "", "") }

func (c *world) bagView() []bagItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []bagItem{}
	for _, id := range c.bag {
		p := c.parcels[id]
		out = append(out, bagItem{Parcel: id, Size: p.Size, Label: mask(p.Tracking), Unannounced: c.unknown[id]})
	}
	return out
}

func (c *world) replay() []sseEvent {
	c.mu.Lock()
	msgs := append([]message(nil), c.msgs...)
	c.mu.Unlock()
	var out []sseEvent
	for _, m := range msgs {
		out = append(out, jsonEvent("sms", m))
	}
	return append(out, jsonEvent("bag", c.bagView()))
}

// observe texts a recipient once their parcel, delivered from the page, is in the
// locker. (A real cloud learns it from the deposited event over MQTT; the simulator
// takes the station's own event, which is the same fact.) A parcel the cloud did not
// announce has a locker-made id: the cloud finds it by the event's waybill digest.
func (c *world) observe(ev locker.Event) {
	if ev.Type != locker.EvDeposited {
		return
	}
	id := string(ev.Parcel)
	if ev.Waybill != nil {
		id = c.byWaybill(*ev.Waybill)
	}
	c.mu.Lock()
	p, ok := c.parcels[id]
	for i, b := range c.bag {
		if b == id {
			c.bag = append(c.bag[:i:i], c.bag[i+1:]...)
			break
		}
	}
	unknown := c.unknown[id]
	delete(c.unknown, id)
	c.mu.Unlock()
	if !ok {
		return
	}
	c.w.cloud.publish("bag", c.bagView(), false)
	if unknown {
		c.text("courier-7", fmt.Sprintf("Parcel %s (%s), which the cloud had not announced, is in locker %s: "+
			"the cloud found it by its waybill digest.", p.ID, mask(p.Tracking), c.w.o.Station.ID), "", "")
		return
	}
	c.text("recipient of "+p.ID, fmt.Sprintf("Your parcel %s is in locker %s. Your code for parcel %s is %s; "+
		"then type your phone's last four digits, %s. Or show this QR.", mask(p.Tracking), c.w.o.Station.ID, p.ID, p.Code, p.Phone),
		"qr", p.ID)
}

// byWaybill finds the unannounced parcel of the bag whose waybill digest is d.
func (c *world) byWaybill(d privacy.Digest) string {
	k, err := c.w.o.Cloud.Keys(c.w.o.Station.ID)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.unknown {
		if canonical, err := waybill.Normalise(c.parcels[id].Tracking); err == nil && k.Waybill(canonical) == d {
			return id
		}
	}
	return ""
}

// postDeliver is the cloud sending the courier out with new parcels: it gives the
// page's courier a badge and PIN the first time, announces the parcels to the
// station (digests only) and puts them in the courier's bag.
func (c *world) postDeliver(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Parcels     int `json:"parcels"`
		Unannounced int `json:"unannounced"`
	}
	if !decode(rw, r, &req) {
		return
	}
	if req.Parcels < 0 || req.Unannounced < 0 || req.Parcels+req.Unannounced < 1 || req.Parcels+req.Unannounced > 8 {
		reply(rw, errors.New("sim: deliver 1 to 8 parcels"))
		return
	}
	reply(rw, c.deliver(r.Context(), req.Parcels, req.Unannounced))
}

// deliver makes n parcels that the cloud announces and u that it does not (large
// ones, for which the courier chooses a size at the panel).
func (c *world) deliver(ctx context.Context, n, u int) error {
	c.deliverMu.Lock()
	defer c.deliverMu.Unlock()
	o := c.w.o
	c.mu.Lock()
	first := c.badge == ""
	if first {
		c.badge, c.pin = privacy.NewBadgeToken(), RandomCode(6) // 6 digits: long enough for a canary scan
	}
	badge, pin := c.badge, c.pin
	c.mu.Unlock()
	sizes := []string{"S", "M", "L"}
	var parcels []Parcel
	for i := range n {
		parcels = append(parcels, o.Cloud.NewParcel(sizes[(int(randInt(3))+i)%len(sizes)]))
	}
	var unknown []Parcel
	for range u {
		unknown = append(unknown, o.Cloud.NewParcel("XL"))
	}
	if first || n > 0 { // the courier's credential, the announcements; the keys for byWaybill
		cl := o.Station.Client()
		defer cl.Close()
		sc := &Scenario{Out: o.Out, Station: o.Station, Cloud: o.Cloud, Fleet: o.Fleet}
		if _, err := sc.provision(ctx, cl, badge, pin, parcels); err != nil {
			if first { // the next delivery tries again
				c.mu.Lock()
				c.badge, c.pin = "", ""
				c.mu.Unlock()
			}
			return err
		}
	}
	c.mu.Lock()
	for _, p := range append(parcels, unknown...) {
		c.parcels[p.ID] = p
		c.bag = append(c.bag, p.ID)
	}
	for _, p := range unknown {
		c.unknown[p.ID] = true
	}
	c.mu.Unlock()
	if first {
		c.text("courier-7", fmt.Sprintf("You may deposit at locker %s. Your badge is in this app (show it to the "+
			"scanner); your PIN is %s.", o.Station.ID, pin), "badge", "")
	}
	c.text("courier-7", fmt.Sprintf("%d new parcel(s) for locker %s are in your bag.", n+u, o.Station.ID), "", "")
	c.w.cloud.publish("bag", c.bagView(), false)
	return nil
}

// postShow is a person holding something to the locker's scanner: the courier's
// badge or a parcel's label, a recipient's pickup QR. The page sends only which; the
// secret it carries goes from here into the scanner's pty and never to the page.
func (c *world) postShow(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		What   string `json:"what"` // badge, label, qr
		Parcel string `json:"parcel,omitempty"`
	}
	if !decode(rw, r, &req) {
		return
	}
	c.mu.Lock()
	badge := c.badge
	p, known := c.parcels[req.Parcel]
	c.mu.Unlock()
	var code string
	switch {
	case req.What == "badge" && badge != "":
		code = panel.PrefixBadge + badge
	case req.What == "label" && known:
		code = p.Tracking
	case req.What == "qr" && known:
		code = panel.PrefixQR + p.QR
	default:
		reply(rw, errors.New("sim: nothing like that to show"))
		return
	}
	reply(rw, c.w.o.Station.Scanner.Type(code))
}
