package tpm

import (
	"bytes"
	"testing"
)

// FuzzDecodeBlob: the blob, enrolment and NV-index file parsers never panic, and what they accept
// encodes back to the same bytes.
func FuzzDecodeBlob(f *testing.F) {
	f.Add(blob{public: []byte{0, 1, 2}, private: []byte{3, 4}}.encode())
	f.Add(blob{public: []byte{1}, private: []byte{2}, data: []byte("sealed")}.encode())
	f.Add(enrolment{lockerID: "L-1"}.encode())
	f.Add([]byte("LKTB\x01"))
	f.Add(encodeNVFile(nvBase))
	f.Fuzz(func(t *testing.T, data []byte) {
		if b, err := decodeBlob(data); err == nil && !bytes.Equal(b.encode(), data) {
			t.Fatalf("blob %x re-encodes differently", data)
		}
		if e, err := decodeEnrolment(data); err == nil && !bytes.Equal(e.encode(), data) {
			t.Fatalf("enrolment %x re-encodes differently", data)
		}
		if h, err := decodeNVFile(data); err == nil && !bytes.Equal(encodeNVFile(h), data) {
			t.Fatalf("NV file %x re-encodes differently", data)
		}
	})
}
