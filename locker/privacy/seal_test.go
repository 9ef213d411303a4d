package privacy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

const (
	vecSeal      = "057130fa5bb37f6ad79c25774e99f723ee5d8e797415e9abcf8197259459856d"
	vecSealBytes = "01000102030405060708090a0ba0c39a0cba55c95f7adc84a008f137541b0d6ec9d9c8158e536a6d3ed0eab025116409dea8"
)

// vectorEpochKey is the epoch key of the sealing vectors: 0x41..0x60.
func vectorEpochKey() [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = byte(0x41 + i)
	}
	return k
}

func TestSealVectors(t *testing.T) {
	key := vectorEpochKey()
	d, err := ParseDigest(vecWaybill)
	if err != nil {
		t.Fatal(err)
	}
	var nonce [12]byte
	for i := range nonce {
		nonce[i] = byte(i)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"seal digest", Seal(key, d).Hex(), vecSeal},
		{"seal bytes", hex.EncodeToString(sealWithNonce(key, nonce, []byte(`{"event":"deposited"}`), []byte("LK-TEST-0001/seq/1"))), vecSealBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestOpenBytes(t *testing.T) {
	key := vectorEpochKey()
	other := key
	other[0] ^= 1
	plain := []byte(`{"event":"deposited"}`)
	ad := []byte("LK-TEST-0001/seq/1")
	sealed := SealBytes(key, plain, ad)
	if len(sealed) != len(plain)+SealOverhead {
		t.Fatalf("sealed length %d, want %d", len(sealed), len(plain)+SealOverhead)
	}
	if bytes.Equal(sealed, SealBytes(key, plain, ad)) {
		t.Fatal("two seals of the same plaintext are equal: nonce not random")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	badVersion := bytes.Clone(sealed)
	badVersion[0] = 2
	vector, _ := hex.DecodeString(vecSealBytes)
	tests := []struct {
		name   string
		key    [32]byte
		sealed []byte
		ad     []byte
		want   []byte
		err    error
	}{
		{"round trip", key, sealed, ad, plain, nil},
		{"vector", key, vector, ad, plain, nil},
		{"empty plaintext", key, SealBytes(key, nil, nil), nil, []byte{}, nil},
		{"wrong key", other, sealed, ad, nil, ErrUnseal},
		{"wrong additional data", key, sealed, []byte("LK-TEST-0001/seq/2"), nil, ErrUnseal},
		{"tampered", key, tampered, ad, nil, ErrUnseal},
		{"unknown version", key, badVersion, ad, nil, ErrUnseal},
		{"truncated", key, sealed[:SealOverhead-1], ad, nil, ErrUnseal},
		{"empty", key, nil, ad, nil, ErrUnseal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OpenBytes(tt.key, tt.sealed, tt.ad)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("plaintext = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSealDependsOnKey(t *testing.T) {
	key := vectorEpochKey()
	other := key
	other[31] ^= 1
	d, _ := ParseDigest(vecWaybill)
	if Seal(key, d) == Seal(other, d) {
		t.Fatal("two epoch keys give the same sealed digest")
	}
	if Seal(key, d) == d {
		t.Fatal("sealed digest equals the digest")
	}
}

func TestEpochOf(t *testing.T) {
	week := DefaultEpochLength
	tests := []struct {
		name   string
		t      time.Time
		length time.Duration
		want   uint32
	}{
		{"unix zero", time.Unix(0, 0), week, 0},
		{"last second of epoch 0", time.Unix(604799, 0), week, 0},
		{"first second of epoch 1", time.Unix(604800, 0), week, 1},
		{"2026", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), week, 2930},
		{"one day", time.Unix(86400*3+5, 0), 24 * time.Hour, 3},
		{"zero length means default", time.Unix(604800, 0), 0, 1},
		{"before 1970", time.Unix(-5, 0), week, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EpochOf(tt.t, tt.length)
			if got != tt.want {
				t.Fatalf("EpochOf = %d, want %d", got, tt.want)
			}
			start := EpochStart(got, tt.length)
			if tt.t.Unix() >= 0 && (tt.t.Before(start) || EpochOf(start, tt.length) != got) {
				t.Fatalf("EpochStart(%d) = %v, not the start of the epoch of %v", got, start, tt.t)
			}
		})
	}
}
