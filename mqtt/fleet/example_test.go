package fleet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// The whole fleet-side flow: connect (verifying every locker's events and replies
// under its event key), announce a parcel with its pickup code (only digests leave
// this process), and follow the locker's events and its audit chain's anchor.
// It needs a broker, so it is compiled but not run here; the tests in this
// package run the same calls against mosquitto.
func Example() {
	ctx := context.Background()
	fleetSigning := ed25519.NewKeyFromSeed(make([]byte, 32)) // load yours from a vault
	var fleetX25519, lockerPublic [32]byte                   // from your key store and the locker's enrolment
	keys, err := fleet.DeriveKeys(fleetX25519, lockerPublic, "L-001")
	if err != nil {
		log.Fatal(err)
	}
	eventKeys := map[string][]byte{"L-001": keys.EventKey()} // one per locker, from your key store
	c, err := fleet.Dial(ctx, fleet.Config{
		Broker: "ssl://broker.example:8883", ClientID: "fleet-api-1", Persistent: true,
		Topics: protocol.MustTopics("lockers"), SigningKey: fleetSigning, KeyID: "fleet-2025",
		EventKey: func(lockerID string) []byte { return eventKeys[lockerID] },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Send the recipient the code and the QR (LKQ: and the secret); the locker asks
	// for the last four digits of their phone after the code.
	secrets := fleet.Secrets{Code: "48291376", Phone: "4321", QR: fleet.NewQRSecret()}
	parcel, err := keys.Parcel("p-7f3a", "RB123456785GB", secrets, protocol.SizeM, time.Now().Add(72*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Do(ctx, "L-001", &protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{parcel}}); err != nil {
		log.Fatal(err) // a *fleet.ReplyError says refused/failed and why
	}
	for {
		ev, err := c.NextEvent(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if p, ok := ev.Body.(*protocol.ParcelEvent); ok && ev.Type == protocol.EvPickedUp {
			fmt.Println("picked up:", p.Parcel) // made by L-001: forgeries never get here
		}
		if a, ok := c.AuditAnchor(ev.LockerID); ok && a.Problem != "" {
			fmt.Println("audit chain", a.Problem, "at", a.ProblemHead.Seq) // investigate the locker
		}
	}
}

// Sign produces the exact bytes to publish on <prefix>/<locker>/cmd. Ed25519
// signatures are deterministic, so the same key and claims give the same
// token, and a re-send is byte-identical.
func ExampleSign() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	iat := time.Unix(1700000000, 0)
	cmd, err := fleet.Sign(key, "", "L-001", "c-42", &protocol.PingBody{}, iat, iat.Add(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	header, _, _ := strings.Cut(string(cmd.Token), ".")
	fmt.Println(cmd.Type, cmd.ID, header)
	// Output: ping c-42 eyJhbGciOiJFZERTQSJ9
}

// Keys turns what the cloud knows (tracking number, pickup code) into what
// the locker may hold (digests and a masked hint).
func ExampleKeys_Parcel() {
	fleetPrivate := [32]byte{1}
	device, err := privacy.NewIdentity([32]byte{2})
	if err != nil {
		log.Fatal(err)
	}
	keys, err := fleet.DeriveKeys(fleetPrivate, device.Public(), "L-001")
	if err != nil {
		log.Fatal(err)
	}
	p, err := keys.Parcel("p-1", "rb 123456785 gb", fleet.Secrets{Code: "12345678", Phone: "4321"}, protocol.SizeS, time.Time{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Hint, len(p.Waybill.Hex()), p.CodeVerifier != nil, p.QRVerifier != nil)
	// Output: …85GB 64 true false
}
