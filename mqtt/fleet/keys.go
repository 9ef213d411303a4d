package fleet

import (
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Keys computes the digests one locker expects: waybill digests, pickup-code
// verifiers, courier badge digests and PIN verifiers. The cloud derives them from the fleet's
// X25519 private key and the locker's public key (docs/privacy.md); the
// locker derives the same keys from its side, and neither sends them.
//
// The tracking number and the code enter here and leave only as digests;
// Keys never logs, stores or returns them.
type Keys struct {
	k *privacy.Keys
}

// DeriveKeys derives the keys shared with one locker.
func DeriveKeys(fleetPrivate, devicePublic [32]byte, lockerID string) (*Keys, error) {
	k, err := privacy.DeriveCloudKeys(fleetPrivate, devicePublic, lockerID)
	if err != nil {
		return nil, fmt.Errorf("fleet: derive keys: %w", err)
	}
	return &Keys{k: k}, nil
}

// Waybill normalises a tracking number the way the locker does on a scan
// and returns its digest and the masked hint ("…" and at most the last four
// characters) that may be shown on the locker's screen.
func (k *Keys) Waybill(trackingNumber string) (protocol.Digest, string, error) {
	canonical, err := waybill.Normalise(trackingNumber)
	if err != nil {
		return protocol.Digest{}, "", fmt.Errorf("fleet: tracking number: %w", err)
	}
	return protocol.Digest(k.k.Waybill(canonical)), waybill.Hint(canonical), nil
}

// CodeVerifier normalises a scheme-1 pickup code (6-8 digits, the code alone)
// and returns its verifier. A locker takes it only while its policy's
// legacy_codes holds (ADR 0046); new parcels use CodeVerifier2.
func (k *Keys) CodeVerifier(code string) (protocol.Digest, error) {
	norm, err := privacy.NormaliseLegacyCode(code)
	if err != nil {
		return protocol.Digest{}, fmt.Errorf("fleet: pickup code: %w", err)
	}
	return protocol.Digest(k.k.CodeVerifier(norm)), nil
}

// Courier returns what courier-upsert carries for a badge token and PIN: the
// badge digest the locker files the courier under and the PIN verifier
// (docs/privacy.md §3). Tokens shorter than privacy.MinBadgeLen are refused (make
// them with NewBadgeToken, lockerctl courier-new), and so are PINs that are not 4-12
// digits (privacy.CheckPIN): the locker would refuse them at login.
func (k *Keys) Courier(badge, pin string) (badgeDigest, verifier protocol.Digest, err error) {
	if err := privacy.CheckBadge(badge); err != nil {
		return protocol.Digest{}, protocol.Digest{}, fmt.Errorf("fleet: badge token: %w", err)
	}
	if err := privacy.CheckPIN(pin); err != nil {
		return protocol.Digest{}, protocol.Digest{}, fmt.Errorf("fleet: PIN: %w", err)
	}
	return protocol.Digest(k.k.Badge(badge)), protocol.Digest(k.k.Courier(badge, pin)), nil
}

// NewBadgeToken returns a new badge token of 130 bits (privacy.NewBadgeToken),
// for a courier's badge QR code (LKB:<token>).
func NewBadgeToken() string { return privacy.NewBadgeToken() }

// CodeVerifier2 normalises a pickup code (8-12 digits; the locker's policy may ask
// for more than 8) and the recipient's phone's last four digits, and returns their
// scheme-2 verifier (ADR 0046): the only form of either the locker receives.
func (k *Keys) CodeVerifier2(code, phone string) (protocol.Digest, error) {
	c, err := privacy.NormaliseCode(code, privacy.MinCodeLen)
	if err != nil {
		return protocol.Digest{}, fmt.Errorf("fleet: pickup code: %w", err)
	}
	p, err := privacy.NormaliseLast4(phone)
	if err != nil {
		return protocol.Digest{}, fmt.Errorf("fleet: phone digits: %w", err)
	}
	return protocol.Digest(k.k.CodeVerifier2(c, p)), nil
}

// QRVerifier normalises a pickup QR's secret (NewQRSecret) and returns its verifier.
func (k *Keys) QRVerifier(secret string) (protocol.Digest, error) {
	s, err := privacy.NormaliseQR(secret)
	if err != nil {
		return protocol.Digest{}, fmt.Errorf("fleet: QR secret: %w", err)
	}
	return protocol.Digest(k.k.QRVerifier(s)), nil
}

// NewQRSecret returns a new pickup QR secret (privacy.NewQRSecret): 128 random bits,
// 26 base32 characters. The recipient's QR encodes "LKQ:" and it.
func NewQRSecret() string { return privacy.NewQRSecret() }

// Secrets are what the cloud gives a recipient to collect a parcel: a code with
// the last four digits of their phone (or four more digits in the message when no
// phone is on file), and a pickup QR. Empty members are set later or never.
type Secrets struct {
	Code  string
	Phone string
	QR    string
}

// Parcel builds one announce entry from a tracking number and, optionally,
// the recipient's secrets (a code needs the phone digits). expires may be
// zero to let the locker's policy decide.
func (k *Keys) Parcel(parcelID, trackingNumber string, s Secrets, size protocol.Size, expires time.Time) (protocol.AnnouncedParcel, error) {
	wb, hint, err := k.Waybill(trackingNumber)
	if err != nil {
		return protocol.AnnouncedParcel{}, err
	}
	p := protocol.AnnouncedParcel{Parcel: parcelID, Waybill: wb, Size: size, Hint: hint}
	if !expires.IsZero() {
		p.Expires = expires.UTC()
	}
	if s.Code != "" || s.Phone != "" {
		v, err := k.CodeVerifier2(s.Code, s.Phone)
		if err != nil {
			return protocol.AnnouncedParcel{}, err
		}
		p.CodeVerifier = &v
	}
	if s.QR != "" {
		v, err := k.QRVerifier(s.QR)
		if err != nil {
			return protocol.AnnouncedParcel{}, err
		}
		p.QRVerifier = &v
	}
	return p, nil
}

// String never reveals key material.
func (k *Keys) String() string { return "fleet.Keys{redacted}" }

// EventKey returns a copy of the key of the MAC the locker puts on every event and
// reply (docs/protocol.md §5.3), for Config.EventKey.
func (k *Keys) EventKey() []byte { return k.k.EventKey() }
