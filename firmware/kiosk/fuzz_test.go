package kiosk

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lockerd/lockerd/firmware/panel"
)

// FuzzScreenKey: whatever a page posts to /key, only one of ScreenKeys reaches the
// panel, as a key from source kiosk and never as a scan.
func FuzzScreenKey(f *testing.F) {
	for _, s := range []string{`{"key":"5"}`, `{"key":"#"}`, `{"key":"A"}`, `{"key":"LKB:x"}`, `{"key":1}`, `{}`, `[`, `{"key":"\u0035"}`, `{"key":"C","scan":"x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got []panel.Input
		k := New(Config{Input: func(in panel.Input) { got = append(got, in) }})
		k.hosts = map[string]bool{"kiosk.test": true}
		req := httptest.NewRequest("POST", "http://kiosk.test/key", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		k.Handler().ServeHTTP(w, req)
		switch {
		case len(got) > 1:
			t.Fatalf("%q: %d inputs", body, len(got))
		case len(got) == 1:
			in := got[0]
			if w.Code != http.StatusNoContent || in.Scan != nil || in.Source != "kiosk" || !strings.ContainsRune(ScreenKeys, rune(in.Key)) {
				t.Fatalf("%q: %d, input %+v", body, w.Code, in)
			}
		case w.Code < 400:
			t.Fatalf("%q: %d with no input", body, w.Code)
		}
	})
}

// FuzzParseLang: a language is accepted only as one of Langs.
func FuzzParseLang(f *testing.F) {
	for _, s := range []string{"en", "zh-Hans", "zh_CN", " ZH ", "fr", "", "cmn"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseLang(s)
		if ok != (l == English || l == Chinese) {
			t.Fatalf("%q: %q %v", s, l, ok)
		}
	})
}

// FuzzLayout: every label is on the map once, at a place of its own within bounds.
func FuzzLayout(f *testing.F) {
	f.Add("A1,A2,B1,B2")
	f.Add("1,2,3,4,5,6")
	f.Add("A1,A1,z40,Z999,a0,A-1,A+1,shelf K")
	f.Fuzz(func(t *testing.T, joined string) {
		if !utf8.ValidString(joined) {
			return
		}
		labels := strings.Split(joined, ",")
		if len(labels) > 200 {
			labels = labels[:200]
		}
		doors := Layout(labels)
		if len(doors) != len(labels) {
			t.Fatalf("%d doors for %d labels", len(doors), len(labels))
		}
		for i, d := range doors {
			if d.Col < 0 || d.Row < 0 || d.Col >= maxGrid || d.Row > maxGrid+len(labels) {
				t.Fatalf("%q at %d,%d", d.Label, d.Col, d.Row)
			}
			for _, e := range doors[:i] {
				if e.Col == d.Col && e.Row == d.Row {
					t.Fatalf("%q and %q share %d,%d", e.Label, d.Label, d.Col, d.Row)
				}
			}
		}
	})
}
