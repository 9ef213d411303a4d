package privacy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDigestText(t *testing.T) {
	d, err := ParseDigest(vecVerifier)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"hex", d.Hex(), vecVerifier},
		{"string is a short prefix", d.String(), vecVerifier[:8]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		{"lower", vecWaybill, nil},
		{"upper", strings.ToUpper(vecWaybill), nil},
		{"empty", "", ErrDigestFormat},
		{"short", vecWaybill[:63], ErrDigestFormat},
		{"long", vecWaybill + "0", ErrDigestFormat},
		{"not hex", "zz" + vecWaybill[2:], ErrDigestFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDigest(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
			if err == nil && d.Hex() != strings.ToLower(tt.in) {
				t.Fatalf("Hex = %s, want %s", d.Hex(), strings.ToLower(tt.in))
			}
			if err != nil && strings.Contains(err.Error(), tt.in) && tt.in != "" {
				t.Fatalf("error %q repeats the input", err)
			}
		})
	}
}

func TestDigestJSON(t *testing.T) {
	type record struct {
		Verifier Digest            `json:"verifier"`
		ByDigest map[Digest]string `json:"by_digest"`
	}
	d, err := ParseDigest(vecVerifier)
	if err != nil {
		t.Fatal(err)
	}
	in := record{Verifier: d, ByDigest: map[Digest]string{d: "parcel-1"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"verifier":"` + vecVerifier + `","by_digest":{"` + vecVerifier + `":"parcel-1"}}`
	if string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var out record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Verifier != d || out.ByDigest[d] != "parcel-1" {
		t.Fatalf("round trip = %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"verifier":"abc"}`), &out); !errors.Is(err, ErrDigestFormat) {
		t.Fatalf("bad digest error = %v, want ErrDigestFormat", err)
	}
}

func TestDigestZeroAndEqual(t *testing.T) {
	var zero Digest
	d, _ := ParseDigest(vecVerifier)
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"zero is zero", zero.IsZero(), true},
		{"digest is not zero", d.IsZero(), false},
		{"equal to itself", d.Equal(d), true},
		{"not equal to zero", d.Equal(zero), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(vecWaybill)
	f.Add(strings.ToUpper(vecVerifier))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err != nil {
			if err != ErrDigestFormat {
				t.Fatalf("error %v is not the bare sentinel", err)
			}
			return
		}
		if !strings.EqualFold(d.Hex(), s) {
			t.Fatalf("Hex = %s, input %s", d.Hex(), s)
		}
		back, err := ParseDigest(d.Hex())
		if err != nil || back != d {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
