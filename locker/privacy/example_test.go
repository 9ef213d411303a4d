package privacy_test

import (
	"fmt"
	"log"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
)

// The cloud side computes what it sends to a locker: the waybill digest and
// the pickup-code verifier, from the fleet's private key, the device's public
// key (reported at provisioning) and the locker id. The code and the tracking
// number never leave the cloud. The keys here are the documented test
// vectors (docs/privacy.md); a real fleet key lives in the cloud's KMS.
func Example_cloudVerifier() {
	var fleetPrivate [32]byte
	for i := range fleetPrivate {
		fleetPrivate[i] = byte(0x21 + i)
	}
	devicePublic, err := privacy.ParsePublicKey("07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := privacy.DeriveCloudKeys(fleetPrivate, devicePublic, "LK-TEST-0001")
	if err != nil {
		log.Fatal(err)
	}

	tracking, err := waybill.Normalise(" rb 123 456 785 gb ")
	if err != nil {
		log.Fatal(err)
	}
	code, err := privacy.NormaliseLegacyCode("12345678")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("waybill: ", keys.Waybill(tracking).Hex())
	fmt.Println("verifier:", keys.CodeVerifier(code).Hex())
	fmt.Println("hint:    ", waybill.Hint(tracking))
	// Output:
	// waybill:  6f53632eebb576e2cd8554416a4b7b19f2d3e1ddb858bda4cdd157fdb0e66489
	// verifier: 7d7d734040e0a2371e1722de93366a8c06436f9df17df7548c87c1c5393180fd
	// hint:     …85GB
}

// A device derives the same keys from its own identity and the fleet's public
// key, and seals what it indexes under the current epoch's key.
func ExampleDeriveKeys() {
	var devicePrivate [32]byte
	for i := range devicePrivate {
		devicePrivate[i] = byte(0x01 + i)
	}
	id, err := privacy.NewIdentity(devicePrivate) // a device uses LoadOrCreateIdentity
	if err != nil {
		log.Fatal(err)
	}
	fleetPublic, err := privacy.ParsePublicKey("5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := privacy.DeriveKeys(id, fleetPublic, "LK-TEST-0001")
	if err != nil {
		log.Fatal(err)
	}
	v := keys.CodeVerifier("12345678")
	fmt.Println("log form:", v) // String is a short prefix, safe for logs
	fmt.Println("courier: ", keys.Courier("BADGE-0001", "4321").Hex())
	// Output:
	// log form: 7d7d7340
	// courier:  2eb0469090514d811e13e54dbf0e42b1ba40b6ef4238b3892fe0dd9d40eaa1cd
}
