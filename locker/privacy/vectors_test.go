package privacy

import (
	"encoding/hex"
	"testing"

	"golang.org/x/crypto/curve25519"
)

// The golden vectors of docs/privacy.md. They were checked against an
// independent implementation (Python "cryptography" X25519 and HKDF, stdlib
// hmac); the document shows how to reproduce them.
const (
	vecLockerID     = "LK-TEST-0001"
	vecDevicePublic = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
	vecFleetPublic  = "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b"
	vecShared       = "a84dc7c3c8f058b1b2dc4cd1e9b5dc0a7987f88b6a9564cde3391fc421159e77"
	vecKeyWaybill   = "7fefbf88f450558c7a757c899a20be160620a12b8837db77ac8fe581b87a4384"
	vecKeyCode      = "40509b59cff276968456ccc56defdefd95b04ebb7df5aeedb048c49abefb5f09"
	vecKeyCourier   = "bea22610626e9cf899ec6b46ea520fb966c171c0de96faa6fac7757e359d4fb8"
	vecKeyAudit     = "bc2cc96ae4d90210c26a70e83117e52c7758830ecfd5c8497212172c4dd21abf"
	vecWaybill      = "6f53632eebb576e2cd8554416a4b7b19f2d3e1ddb858bda4cdd157fdb0e66489"
	vecVerifier     = "7d7d734040e0a2371e1722de93366a8c06436f9df17df7548c87c1c5393180fd"
	vecCourier      = "2eb0469090514d811e13e54dbf0e42b1ba40b6ef4238b3892fe0dd9d40eaa1cd"
	// The key of the MAC on events and replies (docs/adr/0050-authenticated-events.md);
	// checked with Python cryptography 48 as docs/privacy.md §4 shows.
	vecKeyEvent = "8898028e2d0f6a4712d6ff6926d2cc264145d9a208f67620720f03451dbc99f6"

	// The courier record of docs/adr/0049-nothing-linkable-at-rest.md, for the badge
	// token vecBadge and PIN 4321: its badge digest and PIN verifier. Checked with
	// OpenSSL 3.0 and Python cryptography 48 as docs/privacy.md §4 shows.
	vecBadge         = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	vecKeyBadge      = "f897a015ab210dcc66113ad42c84359d274096ee215e4fd762701671b921bd9b"
	vecBadgeDigest   = "ee5e354f9ca29561881dcf5895d6231f2fb68df323fecfabf647f80848125577"
	vecBadgeVerifier = "b117c990b744c72fd4ebf0e37e806caf33e9ab02bf9de84666cc61576ed69c49"
	// ADR 0046: the scheme-2 verifier of code 12345678 with phone digits 4321, and
	// the verifier of the QR secret ABCDEFGHIJKLMNOPQRSTUVWXYZ.
	vecKeyCode2   = "e88680e282db524d4d7748f2cfa8ace7f2d2c694fbfeae5cc186491bef3fc0a7"
	vecKeyQR      = "5412180e2132b1db7fe10f826da4e7cb087fedb085060278641cab5062d08f02"
	vecVerifier2  = "06cb3417374a9247b579baf289a307c5022ead91acd4d430d84054e8bf7674cb"
	vecQRVerifier = "71e050be221cbf941be46f4128856b83e6fb096baeed1193182af77e6c0a676b"
	vecQRSecret   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// vectorPrivates returns the fixed test private keys: device 0x01..0x20,
// fleet 0x21..0x40.
func vectorPrivates() (device, fleet [32]byte) {
	for i := range 32 {
		device[i] = byte(i + 0x01)
		fleet[i] = byte(i + 0x21)
	}
	return device, fleet
}

// vectorKeys derives the device-side and cloud-side Keys of the vectors.
func vectorKeys(t testing.TB) (device, cloud *Keys) {
	t.Helper()
	dp, fp := vectorPrivates()
	id, err := NewIdentity(dp)
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := NewIdentity(fp)
	if err != nil {
		t.Fatal(err)
	}
	if id.PublicHex() != vecDevicePublic || fleet.PublicHex() != vecFleetPublic {
		t.Fatalf("public keys = %s, %s; want the vectors", id.PublicHex(), fleet.PublicHex())
	}
	device, err = DeriveKeys(id, fleet.Public(), vecLockerID)
	if err != nil {
		t.Fatal(err)
	}
	cloud, err = DeriveCloudKeys(fp, id.Public(), vecLockerID)
	if err != nil {
		t.Fatal(err)
	}
	return device, cloud
}

func TestGoldenVectors(t *testing.T) {
	device, cloud := vectorKeys(t)
	for _, side := range []struct {
		name string
		keys *Keys
	}{{"device", device}, {"cloud", cloud}} {
		k := side.keys
		tests := []struct {
			name string
			got  []byte
			want string
		}{
			{"waybill key", k.purpose[PurposeWaybill][:], vecKeyWaybill},
			{"pickup-code key", k.purpose[PurposePickupCode][:], vecKeyCode},
			{"courier key", k.purpose[PurposeCourier][:], vecKeyCourier},
			{"audit key", k.AuditKey(), vecKeyAudit},
			{"event key", k.EventKey(), vecKeyEvent},
			{"waybill digest", digestBytes(k.Waybill("RB123456785GB")), vecWaybill},
			{"code verifier", digestBytes(k.CodeVerifier("12345678")), vecVerifier},
			{"courier digest", digestBytes(k.Courier("BADGE-0001", "4321")), vecCourier},
			{"courier-badge key", k.purpose[PurposeCourierBadge][:], vecKeyBadge},
			{"badge digest", digestBytes(k.Badge(vecBadge)), vecBadgeDigest},
			{"badge PIN verifier", digestBytes(k.Courier(vecBadge, "4321")), vecBadgeVerifier},
			{"pickup-code-2 key", k.purpose[PurposePickupCode2][:], vecKeyCode2},
			{"pickup-qr key", k.purpose[PurposePickupQR][:], vecKeyQR},
			{"code verifier 2", digestBytes(k.CodeVerifier2("12345678", "4321")), vecVerifier2},
			{"code digest 2", digestBytes(must(CodeDigest2(k, "12345678", "4321"))), vecVerifier2},
			{"qr verifier", digestBytes(k.QRVerifier(vecQRSecret)), vecQRVerifier},
			{"qr digest", digestBytes(must(QRDigest(k, vecQRSecret))), vecQRVerifier},
		}
		for _, tt := range tests {
			t.Run(side.name+"/"+tt.name, func(t *testing.T) {
				if got := hex.EncodeToString(tt.got); got != tt.want {
					t.Fatalf("got %s, want %s", got, tt.want)
				}
			})
		}
	}
}

func TestSharedSecretVector(t *testing.T) {
	dp, fp := vectorPrivates()
	fleetPub, _ := hex.DecodeString(vecFleetPublic)
	devicePub, _ := hex.DecodeString(vecDevicePublic)
	tests := []struct {
		name          string
		private, peer []byte
	}{
		{"device side", dp[:], fleetPub},
		{"cloud side", fp[:], devicePub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shared, err := curve25519.X25519(tt.private, tt.peer)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(shared); got != vecShared {
				t.Fatalf("shared = %s, want %s", got, vecShared)
			}
		})
	}
}

func digestBytes(d Digest) []byte { return d[:] }

func must(d Digest, err error) Digest {
	if err != nil {
		panic(err)
	}
	return d
}
