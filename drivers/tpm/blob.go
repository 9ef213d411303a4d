package tpm

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"github.com/lockerd/lockerd/locker/privacy"
)

// A blob is what the card holds of one TPM object: its public area and its private
// area encrypted under the TPM's storage key (only that TPM can load it), and for a
// sealed secret larger than a key, data sealed (privacy.SealBytes) under the 32-byte
// key the object holds.
//
// File layout, integers big-endian:
//
//	"LKTB" | version 0x01 | u16 len | TPM2B_PUBLIC | u16 len | TPM2B_PRIVATE | u32 len | data | SHA-256(all preceding)[:8]
//
// The check catches a truncated or damaged file before the TPM is asked; the TPM's
// own integrity check is what refuses a forged one.
type blob struct {
	public, private []byte // marshalled TPM2B_PUBLIC and TPM2B_PRIVATE
	data            []byte // sealed data, or nil
}

const (
	blobMagic   = "LKTB"
	blobVersion = 1
	blobCheck   = 8
	// maxBlob bounds a blob file: a TPM object is under 1 KiB; the data is a broker
	// password or a TLS client key.
	maxBlob = 64 << 10
)

var errBlob = fmt.Errorf("tpm: blob file is damaged: %w", privacy.ErrCorrupt)

func (b blob) encode() []byte {
	out := make([]byte, 0, 5+2+len(b.public)+2+len(b.private)+4+len(b.data)+blobCheck)
	out = append(out, blobMagic...)
	out = append(out, blobVersion)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.public)))
	out = append(out, b.public...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.private)))
	out = append(out, b.private...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.data)))
	out = append(out, b.data...)
	sum := sha256.Sum256(out)
	return append(out, sum[:blobCheck]...)
}

func decodeBlob(data []byte) (blob, error) {
	if len(data) < len(blobMagic)+1+2+2+4+blobCheck || len(data) > maxBlob {
		return blob{}, errBlob
	}
	body, check := data[:len(data)-blobCheck], data[len(data)-blobCheck:]
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(sum[:blobCheck], check) != 1 {
		return blob{}, errBlob
	}
	if string(body[:len(blobMagic)]) != blobMagic || body[len(blobMagic)] != blobVersion {
		return blob{}, errBlob
	}
	rest := body[len(blobMagic)+1:]
	field := func(n int) ([]byte, error) {
		if len(rest) < n {
			return nil, errBlob
		}
		var size int
		if n == 2 {
			size = int(binary.BigEndian.Uint16(rest))
		} else {
			size = int(binary.BigEndian.Uint32(rest))
		}
		if len(rest)-n < size {
			return nil, errBlob
		}
		f := append([]byte(nil), rest[n:n+size]...)
		rest = rest[n+size:]
		return f, nil
	}
	var b blob
	var err error
	if b.public, err = field(2); err != nil {
		return blob{}, err
	}
	if b.private, err = field(2); err != nil {
		return blob{}, err
	}
	if b.data, err = field(4); err != nil {
		return blob{}, err
	}
	if len(rest) != 0 || len(b.public) == 0 || len(b.private) == 0 {
		return blob{}, errBlob
	}
	if len(b.data) == 0 {
		b.data = nil
	}
	return b, nil
}

// areas unmarshals the blob's TPM structures for TPM2_Load.
func (b blob) areas() (*tpm2.TPM2BPublic, *tpm2.TPM2BPrivate, error) {
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.public)
	if err != nil {
		return nil, nil, errors.Join(errBlob, err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.private)
	if err != nil {
		return nil, nil, errors.Join(errBlob, err)
	}
	return pub, priv, nil
}

// Enrolment file layout (written last at enrolment: without it the station is not
// enrolled, and the next start enrols again):
//
//	"LKTE" | version 0x01 | device X25519 public (32) | fleet X25519 public (32) | u8 len | locker id | SHA-256(all preceding)[:8]
type enrolment struct {
	devicePublic, fleetPublic [32]byte
	lockerID                  string
}

const (
	enrolMagic   = "LKTE"
	enrolVersion = 1
)

func (e enrolment) encode() []byte {
	out := append([]byte(enrolMagic), enrolVersion)
	out = append(out, e.devicePublic[:]...)
	out = append(out, e.fleetPublic[:]...)
	out = append(out, byte(len(e.lockerID)))
	out = append(out, e.lockerID...)
	sum := sha256.Sum256(out)
	return append(out, sum[:blobCheck]...)
}

func decodeEnrolment(data []byte) (enrolment, error) {
	const fixed = len(enrolMagic) + 1 + 32 + 32 + 1
	bad := fmt.Errorf("tpm: enrolment file is damaged: %w", privacy.ErrCorrupt)
	if len(data) < fixed+blobCheck {
		return enrolment{}, bad
	}
	body, check := data[:len(data)-blobCheck], data[len(data)-blobCheck:]
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(sum[:blobCheck], check) != 1 ||
		string(body[:len(enrolMagic)]) != enrolMagic || body[len(enrolMagic)] != enrolVersion ||
		len(body) != fixed+int(body[fixed-1]) {
		return enrolment{}, bad
	}
	var e enrolment
	copy(e.devicePublic[:], body[len(enrolMagic)+1:])
	copy(e.fleetPublic[:], body[len(enrolMagic)+1+32:])
	e.lockerID = string(body[fixed:])
	return e, nil
}
