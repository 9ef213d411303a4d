package sim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"sync"

	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
)

// Cloud is the simulated fleet back end. It holds the fleet's private key, so it is the
// only party besides the locker able to compute the locker's digests.
type Cloud struct {
	private, Public [32]byte

	mu   sync.Mutex
	keys map[string]*privacy.Keys
	n    int
}

// NewCloud creates a fleet with a fresh key.
func NewCloud() (*Cloud, error) {
	priv, pub, err := privacy.GenerateFleetKey()
	if err != nil {
		return nil, err
	}
	return &Cloud{private: priv, Public: pub, keys: map[string]*privacy.Keys{}}, nil
}

// FleetPublicHex is the value for a locker's fleet.x25519_public.
func (c *Cloud) FleetPublicHex() string { return hex.EncodeToString(c.Public[:]) }

// Enrol derives the keys the cloud shares with a locker, from the locker's public key.
func (c *Cloud) Enrol(lockerID, devicePublicHex string) error {
	pub, err := privacy.ParsePublicKey(devicePublicHex)
	if err != nil {
		return err
	}
	k, err := privacy.DeriveCloudKeys(c.private, pub, lockerID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.keys[lockerID] = k
	c.mu.Unlock()
	return nil
}

// Keys returns the keys shared with an enrolled locker.
func (c *Cloud) Keys(lockerID string) (*privacy.Keys, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[lockerID]
	if !ok {
		return nil, fmt.Errorf("sim: locker %s not enrolled", lockerID)
	}
	return k, nil
}

// Parcel is a parcel as the cloud knows it: the plaintext tracking number and code live
// here (and on the label, and in the recipient's phone), never on the locker.
type Parcel struct {
	ID       string
	Tracking string
	Code     string
	Size     string
}

// NewParcel invents a parcel with a valid S10 tracking number and a random 8-digit code.
func (c *Cloud) NewParcel(size string) Parcel {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	return Parcel{ID: fmt.Sprintf("p-%04d", n), Tracking: RandomS10(), Code: RandomCode(8), Size: size}
}

// Announcement computes the digests of p for a locker.
func (c *Cloud) Announcement(lockerID string, p Parcel) (control.Announcement, error) {
	k, err := c.Keys(lockerID)
	if err != nil {
		return control.Announcement{}, err
	}
	canonical, err := waybill.Normalise(p.Tracking)
	if err != nil {
		return control.Announcement{}, fmt.Errorf("sim: parcel %s: %w", p.ID, err)
	}
	return control.Announcement{ID: p.ID, Waybill: k.Waybill(canonical).Hex(),
		Verifier: k.CodeVerifier(p.Code).Hex(), Size: p.Size, Hint: waybill.Hint(canonical)}, nil
}

// CourierCredential computes a courier credential digest for a locker.
func (c *Cloud) CourierCredential(lockerID, badge, pin string) (string, error) {
	k, err := c.Keys(lockerID)
	if err != nil {
		return "", err
	}
	return k.Courier(badge, pin).Hex(), nil
}

func randInt(max int64) int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(max))
	if err != nil {
		panic("sim: no randomness: " + err.Error())
	}
	return n.Int64()
}

// RandomCode returns n random decimal digits.
func RandomCode(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + randInt(10))
	}
	return string(b)
}

// RandomS10 returns a random UPU S10 tracking number with a correct check digit.
func RandomS10() string {
	serial := RandomCode(8)
	weights := []int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, w := range weights {
		sum += int(serial[i]-'0') * w
	}
	check := 11 - sum%11
	switch check {
	case 10:
		check = 0
	case 11:
		check = 5
	}
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	return fmt.Sprintf("R%c%s%d%s", letters[randInt(26)], serial, check, []string{"CN", "DE", "GB", "FR", "NL"}[randInt(5)])
}
