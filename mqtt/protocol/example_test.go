package protocol_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// A cloud builds the claims of a command, which it then signs (see mqtt/jws
// or mqtt/fleet) and publishes on the locker's command topic.
func ExampleEncodeCommand() {
	topics := protocol.MustTopics("lockers")
	iat := time.Unix(1700000000, 0)
	body := &protocol.OpenCompartmentBody{Compartment: 12, Reason: protocol.OpenSupport, Operator: "op-7"}
	claims, err := protocol.EncodeCommand("L-001", "c-42", body, iat, iat.Add(5*time.Minute))
	if err != nil {
		panic(err)
	}
	fmt.Println(topics.Command("L-001"))
	fmt.Println(string(claims))
	// Output:
	// lockers/L-001/cmd
	// {"aud":"L-001","jti":"c-42","iat":1700000000,"exp":1700000300,"typ":"open-compartment","body":{"compartment":12,"reason":"support","operator":"op-7"}}
}

// A device decodes the (already verified) payload; a refusal says where and
// why, without repeating any value.
func ExampleDecodeCommand() {
	payload := `{"aud":"L-001","jti":"c-43","iat":1700000000,"exp":1700000300,"typ":"set-verifier",` +
		`"body":{"parcel":"p-1","verifier":"12ab"}}`
	_, err := protocol.DecodeCommand([]byte(payload))
	var se *protocol.SchemaError
	if errors.As(err, &se) {
		fmt.Println(se.Problem, se.Path)
	}
	// Output: bad_digest body.verifier
}

// A cloud reads an event: the body's Go type follows from the event type.
func ExampleDecodeEvent() {
	payload := `{"id":"ev-17","seq":17,"type":"picked_up","time":"2025-03-01T10:00:00Z",` +
		`"body":{"parcel":"p-7f3a","compartment":12,"actor":"recipient"}}`
	ev, body, err := protocol.DecodeEvent([]byte(payload))
	if err != nil {
		panic(err)
	}
	p := body.(*protocol.ParcelEvent)
	fmt.Println(ev.Seq, ev.Type, p.Parcel, p.Compartment)
	// Output: 17 picked_up p-7f3a 12
}
