package protocol

import (
	"errors"
	"strings"
	"testing"
)

func TestUpdateBody(t *testing.T) {
	good := `{"url":"https://releases.example/lockerd_1.2.0-1_arm64.deb","version":"1:1.2.0~rc1-1",` +
		`"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","manifest":"eyJhbGciOiJFZERTQSJ9.e30.` + strings.Repeat("A", 86) + `"}`
	b, err := DecodeBody(CmdUpdate, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if u := b.(*UpdateBody); u.Version != "1:1.2.0~rc1-1" || u.SHA256.Hex()[:4] != "9f86" {
		t.Errorf("decoded %+v", u)
	}
	for name, tc := range map[string]struct{ old, new, path string }{
		"ftp url":         {"https://", "ftp://", "body.url"},
		"credentials":     {"https://", "https://user:pw@", "body.url"},
		"version space":   {"1:1.2.0~rc1-1", "1.2 0", "body.version"},
		"upper digest":    {"9f86d0", "9F86D0", "body.sha256"},
		"manifest spaces": {"eyJhbGciOiJFZERTQSJ9.", "eyJhbGciOiJFZERTQSJ9 .", "body.manifest"},
		"unknown member":  {`"version"`, `"force":true,"version"`, "body.force"},
	} {
		_, err := DecodeBody(CmdUpdate, []byte(strings.Replace(good, tc.old, tc.new, 1)))
		var se *SchemaError
		if !errors.As(err, &se) || se.Path != tc.path {
			t.Errorf("%s: %v, want a schema error at %s", name, err, tc.path)
		}
	}
}

func TestUpdateEvent(t *testing.T) {
	ok := UpdateEvent{Step: UpdateRolledBack, Version: "1.2.0-1", Reason: "unhealthy", Command: "c-1"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, e := range []UpdateEvent{{Step: "done"}, {Step: UpdateRefused, Reason: "has space"}} {
		if e.Validate() == nil {
			t.Errorf("%+v accepted", e)
		}
	}
}
