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
			b, err := encodeRecord(&p)
			if err != nil {
				t.Fatal(err)
			}
			var q store.Record
			if err := decodeRecord(b, &q); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, q) {
				t.Fatalf("round trip\n got %+v\nwant %+v", q, p)
			}
		})
	}
	b, _ := encodeRecord(ptr(sampleParcel()))
	if len(b) > 140 {
		t.Fatalf("record is %d bytes: the compact form exists to stay small", len(b))
	}
}

func TestRecordRejects(t *testing.T) {
	good, _ := encodeRecord(ptr(sampleParcel()))
	cases := map[string][]byte{
		"empty":          nil,
		"truncated":      good[:len(good)-1],
		"trailing":       append(bytes.Clone(good), 0),
		"future version": append([]byte{2}, good[1:]...),
		"unknown state":  append(append([]byte{}, good[:2]...), append([]byte{99}, good[3:]...)...),
		"unknown flags":  append([]byte{1, 0x80}, good[2:]...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var p store.Record
			if err := decodeRecord(b, &p); err == nil {
				t.Fatalf("accepted %x", b)
			}
		})
	}
	bad := sampleParcel()
	bad.State = "lost"
	if _, err := encodeRecord(&bad); err == nil {
		t.Fatal("stored an unknown state")
	}
}

func FuzzRecord(f *testing.F) {
	good, _ := encodeRecord(ptr(sampleParcel()))
	f.Add(good)
	f.Add([]byte{1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p store.Record
		if decodeRecord(data, &p) != nil {
			return
		}
		again, err := encodeRecord(&p)
		if err != nil {
			t.Fatalf("decoded a record it cannot encode: %v", err)
		}
		var q store.Record
		if err := decodeRecord(again, &q); err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("re-encoding changed the record: %v", err)
		}
	})
}

func ptr(r store.Record) *store.Record { return &r }

var testStart = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
