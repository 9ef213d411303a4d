package sim

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"path/filepath"
	"slices"
	"sync"

	"github.com/lockerd/lockerd/firmware/config"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
	"github.com/lockerd/lockerd/mqtt/fleet"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Cloud is the simulated fleet back end. It holds the fleet's private keys: the X25519
// key, so it is the only party besides the locker able to compute the locker's
// digests, and the Ed25519 key that signs its commands (see Connect).
type Cloud struct {
	private, Public [32]byte
	// Signing is the fleet's command-signing key; lockers pin its public half.
	Signing ed25519.PrivateKey

	// ParcelIDPrefix starts the ids NewParcel invents: a run over a directory an
	// earlier run used sets it, or its p-0001 would be that run's parcel, which the
	// locker holds already (and skips as a late duplicate announcement).
	ParcelIDPrefix string

	mu   sync.Mutex
	keys map[string]*privacy.Keys
	n    int
}

// NewCloud creates a fleet with fresh keys.
func NewCloud() (*Cloud, error) {
	priv, pub, err := privacy.GenerateFleetKey()
	if err != nil {
		return nil, err
	}
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sim: fleet signing key: %w", err)
	}
	return &Cloud{private: priv, Public: pub, Signing: signing, keys: map[string]*privacy.Keys{}}, nil
}

// FleetPublicHex is the value for a locker's fleet.x25519_public.
func (c *Cloud) FleetPublicHex() string { return hex.EncodeToString(c.Public[:]) }

// SigningPublicHex is the value for a locker's fleet.ed25519_public.
func (c *Cloud) SigningPublicHex() string {
	return hex.EncodeToString(c.Signing.Public().(ed25519.PublicKey))
}

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
	Code     string // the pickup code, 8 digits
	Phone    string // the last four digits of the recipient's phone (ADR 0046)
	QR       string // the pickup QR's secret, 128 bits in base32 (privacy.NewQRSecret)
	Size     string
}

// NewParcel invents a parcel with a valid S10 tracking number, a random 8-digit code, a
// recipient's phone's last four digits and a pickup QR secret.
func (c *Cloud) NewParcel(size string) Parcel {
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	return Parcel{ID: fmt.Sprintf("%sp-%04d", c.ParcelIDPrefix, n), Tracking: RandomS10(), Code: RandomCode(8),
		Phone: RandomCode(4), QR: privacy.NewQRSecret(), Size: size}
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
	a := control.Announcement{ID: p.ID, Waybill: k.Waybill(canonical).Hex(), Size: p.Size, Hint: waybill.Hint(canonical)}
	if p.Code != "" {
		a.CodeVerifier = k.CodeVerifier2(p.Code, p.Phone).Hex()
	}
	if p.QR != "" {
		a.QRVerifier = k.QRVerifier(p.QR).Hex()
	}
	return a, nil
}

// CourierRequest returns the control API's request that stores a courier with a badge
// token and PIN at a locker: its badge digest and PIN verifier (docs/privacy.md §3).
func (c *Cloud) CourierRequest(lockerID, courierID, badge, pin string, rights locker.Rights) (control.CourierRequest, error) {
	k, err := c.Keys(lockerID)
	if err != nil {
		return control.CourierRequest{}, err
	}
	if err := privacy.CheckBadge(badge); err != nil {
		return control.CourierRequest{}, fmt.Errorf("sim: courier %s: %w", courierID, err)
	}
	return control.CourierRequest{ID: courierID, Badge: k.Badge(badge).Hex(), Verifier: k.Courier(badge, pin).Hex(),
		Rights: rights}, nil
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

// Connect dials a broker as the fleet's client (mqtt/fleet), signing commands
// with the fleet key. cfg needs Broker and the broker account; Topics defaults to the
// lockers' default prefix.
func (c *Cloud) Connect(ctx context.Context, cfg fleet.Config) (*fleet.Client, error) {
	cfg.SigningKey = c.Signing
	if cfg.Topics.Prefix() == "" {
		cfg.Topics = protocol.MustTopics(config.DefaultTopicPrefix)
	}
	return fleet.Dial(ctx, cfg)
}

// EnrolOver enrols a locker over the cloud link: a status command returns the device's
// public key, from which the cloud derives the keys it shares with the locker. This is
// trust on first use, good for a simulator; a production fleet registers the key at
// installation (`lockerd identity`) and would only compare it here.
func (c *Cloud) EnrolOver(ctx context.Context, cl *fleet.Client, lockerID string) (*protocol.StatusResult, error) {
	r, err := cl.Do(ctx, lockerID, &protocol.StatusBody{})
	if err != nil {
		return nil, err
	}
	res, err := protocol.DecodeResult(protocol.CmdStatus, r.Body)
	if err != nil {
		return nil, fmt.Errorf("sim: status of %s: %w", lockerID, err)
	}
	st := res.(*protocol.StatusResult)
	if st.Identity == "" {
		return nil, fmt.Errorf("sim: locker %s does not report its identity", lockerID)
	}
	return st, c.Enrol(lockerID, st.Identity)
}

// WireParcel computes the announce entry of p for an enrolled locker: digests and a
// masked hint, never the tracking number or the code.
func (c *Cloud) WireParcel(lockerID string, p Parcel) (protocol.AnnouncedParcel, error) {
	k, err := c.Keys(lockerID)
	if err != nil {
		return protocol.AnnouncedParcel{}, err
	}
	canonical, err := waybill.Normalise(p.Tracking)
	if err != nil {
		return protocol.AnnouncedParcel{}, fmt.Errorf("sim: parcel %s: %w", p.ID, err)
	}
	size, err := protocol.ParseSize(p.Size)
	if err != nil {
		return protocol.AnnouncedParcel{}, fmt.Errorf("sim: parcel %s: %w", p.ID, err)
	}
	a := protocol.AnnouncedParcel{Parcel: p.ID, Waybill: protocol.Digest(k.Waybill(canonical)), Size: size,
		Hint: waybill.Hint(canonical)}
	if p.Code != "" {
		v := protocol.Digest(k.CodeVerifier2(p.Code, p.Phone))
		a.CodeVerifier = &v
	}
	if p.QR != "" {
		v := protocol.Digest(k.QRVerifier(p.QR))
		a.QRVerifier = &v
	}
	return a, nil
}

// WireCourier returns the courier-upsert body for a badge and PIN at an enrolled locker.
func (c *Cloud) WireCourier(lockerID, courierID, badge, pin string, rights ...protocol.Right) (*protocol.CourierUpsertBody, error) {
	k, err := c.Keys(lockerID)
	if err != nil {
		return nil, err
	}
	if err := privacy.CheckBadge(badge); err != nil {
		return nil, fmt.Errorf("sim: courier %s: %w", courierID, err)
	}
	return &protocol.CourierUpsertBody{Courier: courierID, Badge: protocol.Digest(k.Badge(badge)),
		Verifier: protocol.Digest(k.Courier(badge, pin)), Rights: rights}, nil
}

// AnnounceOver announces parcels to a locker over the cloud link, in batches of the
// protocol's maximum, and fails unless every parcel was applied.
func (c *Cloud) AnnounceOver(ctx context.Context, cl *fleet.Client, lockerID string, parcels []Parcel) error {
	for batch := range slices.Chunk(parcels, protocol.MaxAnnounceBatch) {
		body := &protocol.AnnounceBody{}
		for _, p := range batch {
			a, err := c.WireParcel(lockerID, p)
			if err != nil {
				return err
			}
			body.Parcels = append(body.Parcels, a)
		}
		r, err := cl.Do(ctx, lockerID, body)
		if err != nil {
			return err
		}
		if r.Reason != "" {
			return fmt.Errorf("sim: announce to %s: %s", lockerID, r.Reason)
		}
	}
	return nil
}

// WriteKeyFiles writes the fleet's private keys into dir as PKCS#8 PEM files, as
// `openssl genpkey` writes them, so that lockerctl can act as this fleet: fleet.pem
// (Ed25519, signs commands) and fleet-x25519.pem (X25519, keys the digests), 0600.
func (c *Cloud) WriteKeyFiles(dir string) (signing, x25519 string, err error) {
	x, err := ecdh.X25519().NewPrivateKey(c.private[:])
	if err != nil {
		return "", "", fmt.Errorf("sim: fleet key: %w", err)
	}
	signing, x25519 = filepath.Join(dir, "fleet.pem"), filepath.Join(dir, "fleet-x25519.pem")
	for path, key := range map[string]any{signing: c.Signing, x25519: x} {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return "", "", fmt.Errorf("sim: fleet key: %w", err)
		}
		if err := writeSecret(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return "", "", fmt.Errorf("sim: %w", err)
		}
	}
	return signing, x25519, nil
}
