package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Parcel records are stored in a compact binary form (docs/adr/0003-store-layout.md):
// at 100,000 waiting parcels the store's size decides the daemon's resident memory,
// because the kernel maps the pages around every page a lookup touches. JSON spent
// ~300 bytes a record, most of it hex digests and field names; this spends ~130.
//
//	version  1 byte (recordVersion)
//	flags    1 byte (bit 0: announced; bit 1: has verifier; bit 2: has code
//	         verifier; bit 3: has QR verifier)
//	state    1 byte (stateCodes)
//	size     1 byte
//	epoch    4 bytes BE
//	compartment 2 bytes BE
//	generation  uvarint
//	waybill  32 bytes
//	verifier 32 bytes, only with flag bit 1
//	code verifier 32 bytes, only with flag bit 2 (ADR 0046; a record without it
//	         reads as before, so stores written earlier open unchanged)
//	QR verifier   32 bytes, only with flag bit 3
//	expires, keep, updated, purge: varint unix nanoseconds each (0: zero time)
//	id, hint, courier: uvarint length + bytes each
//
// Version 2 (docs/adr/0049-nothing-linkable-at-rest.md) differs only in the hint: it
// holds SealBytes(epoch key, hint, hintAD(id)), or nothing when there is no hint, so
// that destroying the parcel's epoch key shreds the hint with the digests. Version 1
// held it in clear; Tx.Init rewrites such records once (migrate.go), and until then
// they still decode.
const (
	recordVersion       = 2
	recordVersionLegacy = 1
)

// The record's flags.
const (
	flagAnnounced    = 1
	flagVerifier     = 2
	flagCodeVerifier = 4
	flagQRVerifier   = 8
	flagsKnown       = flagAnnounced | flagVerifier | flagCodeVerifier | flagQRVerifier
)

// verifiers lists p's verifier fields with their flags, in record order.
func verifiers(p *store.Record) []struct {
	flag byte
	d    *privacy.Digest
} {
	return []struct {
		flag byte
		d    *privacy.Digest
	}{{flagVerifier, &p.Verifier}, {flagCodeVerifier, &p.CodeVerifier}, {flagQRVerifier, &p.QRVerifier}}
}

// The parcel states the store files parcels by (their names are locker.ParcelState's).
const (
	stateAnnounced = "announced"
	stateDeposited = "deposited"
	statePickedUp  = "picked_up"
	stateRetrieved = "retrieved"
	stateCancelled = "cancelled"
)

// stateCodes are the on-disk codes of parcel states; they never change meaning.
var stateCodes = map[string]byte{
	stateAnnounced: 1, stateDeposited: 2, statePickedUp: 3, "expired": 4,
	stateRetrieved: 5, stateCancelled: 6, "recalled": 7,
}

// terminal reports whether state is one no transition leaves (locker.ParcelState.Terminal):
// records in it are filed for purging.
func terminal(state string) bool {
	return state == statePickedUp || state == stateRetrieved || state == stateCancelled
}

// maxSize is the largest size code a record holds (locker.SizeXL).
const maxSize = 4

// errRecord is the error of a parcel record that does not decode.
var errRecord = errors.New("locker: malformed parcel record")

const maxRecordString = 255

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// encodeRecord encodes a parcel record for the store, with hint (the sealed hint, or
// nil) in place of p.Hint, which it never writes.
func encodeRecord(p *store.Record, hint []byte) ([]byte, error) {
	code, ok := stateCodes[p.State]
	if !ok {
		return nil, fmt.Errorf("locker: parcel %s: cannot store state %q", p.ID, p.State)
	}
	if len(p.ID) > maxRecordString || len(hint) > maxRecordString || len(p.Courier) > maxRecordString {
		return nil, fmt.Errorf("locker: parcel %s: a field is longer than %d bytes", p.ID, maxRecordString)
	}
	var flags byte
	if p.Announced {
		flags |= 1
	}
	if !p.Verifier.IsZero() {
		flags |= flagVerifier
	}
	if !p.CodeVerifier.IsZero() {
		flags |= flagCodeVerifier
	}
	if !p.QRVerifier.IsZero() {
		flags |= flagQRVerifier
	}
	b := make([]byte, 0, 160)
	b = append(b, recordVersion, flags, code, p.Size)
	b = binary.BigEndian.AppendUint32(b, p.Epoch)
	b = binary.BigEndian.AppendUint16(b, p.Compartment)
	b = binary.AppendUvarint(b, p.Generation)
	b = append(b, p.Waybill[:]...)
	for _, v := range verifiers(p) {
		if flags&v.flag != 0 {
			b = append(b, v.d[:]...)
		}
	}
	for _, t := range []time.Time{p.ExpiresAt, p.KeepUntil, p.Updated, p.PurgeAt} {
		b = appendTime(b, t)
	}
	for _, s := range []string{p.ID, string(hint), p.Courier} {
		b = appendString(b, s)
	}
	return b, nil
}

// recordReader consumes a record, remembering the first error.
type recordReader struct {
	b   []byte
	err error
}

func (r *recordReader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errRecord
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) time() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errRecord
		return time.Time{}
	}
	r.b = r.b[n:]
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (r *recordReader) string() string {
	n := r.uvarint()
	if n > maxRecordString {
		r.err = errRecord
		return ""
	}
	return string(r.take(int(n)))
}

// decodeRecord decodes a stored record into p, all but its hint: hint is the hint
// field's bytes, sealed in a record of recordVersion, in clear in one of
// recordVersionLegacy (version says which). It rejects anything it would not write.
func decodeRecord(data []byte, p *store.Record) (hint []byte, version byte, err error) {
	r := &recordReader{b: data}
	head := r.take(4)
	if r.err != nil || (head[0] != recordVersion && head[0] != recordVersionLegacy) || head[1]&^flagsKnown != 0 {
		return nil, 0, errRecord
	}
	var state string
	for s, c := range stateCodes {
		if c == head[2] {
			state = s
		}
	}
	if state == "" || head[3] > maxSize {
		return nil, 0, errRecord
	}
	*p = store.Record{State: state, Size: head[3], Announced: head[1]&1 != 0}
	p.Epoch = binary.BigEndian.Uint32(r.take(4))
	p.Compartment = binary.BigEndian.Uint16(r.take(2))
	p.Generation = r.uvarint()
	copy(p.Waybill[:], r.take(32))
	for _, v := range verifiers(p) {
		if head[1]&v.flag != 0 {
			copy(v.d[:], r.take(32))
		}
	}
	p.ExpiresAt, p.KeepUntil, p.Updated, p.PurgeAt = r.time(), r.time(), r.time(), r.time()
	var h string
	p.ID, h, p.Courier = r.string(), r.string(), r.string()
	if r.err != nil || len(r.b) != 0 || p.ID == "" {
		return nil, 0, errRecord
	}
	if h != "" {
		hint = []byte(h)
	}
	return hint, head[0], nil
}
