package boltstore

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

func sampleParcel() store.Record {
	return store.Record{ID: "p-0001", Epoch: 2969, Waybill: privacy.Digest{1, 2, 3}, Verifier: privacy.Digest{9, 8, 7},
		Hint: "…85GB", Size: 3, State: "deposited", Announced: true, Compartment: 17, Generation: 300,
		Courier: "c-1", ExpiresAt: testStart.Add(72 * time.Hour), Updated: testStart.Add(time.Nanosecond)}
}

func TestRecordRoundTrip(t *testing.T) {
	cases := map[string]store.Record{
		"full":        sampleParcel(),
		"no verifier": {ID: "u-1", Waybill: privacy.Digest{5}, Size: 1, State: "announced", KeepUntil: testStart},
		"scheme 2 and QR": {ID: "n-1", Waybill: privacy.Digest{5}, CodeVerifier: privacy.Digest{6}, QRVerifier: privacy.Digest{7},
			Size: 2, State: "announced", KeepUntil: testStart},
		"all three": {ID: "m-1", Waybill: privacy.Digest{5}, Verifier: privacy.Digest{4}, CodeVerifier: privacy.Digest{6},
			QRVerifier: privacy.Digest{7}, Size: 2, State: "deposited"},
		"terminal": {ID: "x", Waybill: privacy.Digest{5}, Size: 4, State: "picked_up", PurgeAt: testStart, Updated: testStart},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := encodeRecord(&p, []byte(p.Hint)) // the hint field's bytes, as given
			if err != nil {
				t.Fatal(err)
			}
			var q store.Record
			hint, version, err := decodeRecord(b, &q)
			if err != nil || version != recordVersion {
				t.Fatal(version, err)
			}
			q.Hint = string(hint)
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip\n got %+v\nwant %+v", q, p)
			}
		})
	}
	// With its hint sealed (7 bytes + privacy.SealOverhead).
	b, _ := encodeRecord(ptr(sampleParcel()), make([]byte, len("…85GB")+privacy.SealOverhead))
	if len(b) > 170 {
		t.Fatalf("record is %d bytes: the compact form exists to stay small", len(b))
	}
}

func TestRecordRejects(t *testing.T) {
	good, _ := encodeRecord(ptr(sampleParcel()), []byte("sealed"))
	cases := map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"future version": append([]byte{3}, good[1:]...),
		"version 0":      append([]byte{0}, good[1:]...),
		"unknown state":  append(append([]byte{}, good[:2]...), append([]byte{99}, good[3:]...)...),
		"unknown flags":  append([]byte{1, 0x80}, good[2:]...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var p store.Record
			if _, _, err := decodeRecord(b, &p); err == nil {
				t.Fatalf("accepted %x", b)
			}
		})
	}
	bad := sampleParcel()
	bad.State = "lost"
	if _, err := encodeRecord(&bad, nil); err == nil {
		t.Fatal("stored an unknown state")
	}
}

func FuzzRecord(f *testing.F) {
	good, _ := encodeRecord(ptr(sampleParcel()), []byte("sealed hint"))
	f.Add(good)
	f.Add(append([]byte{recordVersionLegacy}, good[1:]...))
	f.Add([]byte{1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p store.Record
		hint, _, err := decodeRecord(data, &p)
		if err != nil {
			return
		}
		again, err := encodeRecord(&p, hint)
		if err != nil {
			t.Fatalf("decoded a record it cannot encode: %v", err)
		}
		var q store.Record
		hint2, version, err := decodeRecord(again, &q)
		if err != nil || version != recordVersion || !bytes.Equal(hint, hint2) || !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}

func ptr(r store.Record) *store.Record { return &r }

var testStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
