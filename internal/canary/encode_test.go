package canary

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf16"
)

const tracking = "RB987654326GB"

// quote is s as Go's encoding/json writes a string: <, > and & as \u escapes.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func utf16Of(s string, order binary.AppendByteOrder) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = order.AppendUint16(out, u)
	}
	return out
}

func TestFindEachForm(t *testing.T) {
	slogJSON := func(v string) string {
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("scan", "raw", []byte(v))
		return b.String()
	}
	tests := []struct {
		name, value, data string
		want              Form
	}{
		{"plain inside text", tracking, "scan " + tracking + " ok", Plain},
		{"json: every character a \\u escape", tracking, `{"t":"` + string(Encode(JSONEscaped, tracking)) + `"}`, JSONEscaped},
		{"json: Go's escapes of < > & and quote", `A<B>C&D"12`, `{"v":` + quote(`A<B>C&D"12`) + `}`, JSONEscaped},
		{"json: escaped solidus", "QR/CANARY/42", `{"v":"QR\/CANARY\/42"}`, JSONEscaped},
		{"json: upper-case \\u escapes", tracking, `"\u0052\u0042` + tracking[2:] + `"`, JSONEscaped},
		{"json: surrogate pair", "PIN\U0001F600123", `"PIN\ud83d\ude00123"`, JSONEscaped},
		{"json: quoted twice (a payload in a log line)", "A<B>CANARY", quote(`{"v":` + quote("A<B>CANARY") + `}`), JSONEscaped},
		{"lower-case", tracking, "x" + strings.ToLower(tracking) + "y", CaseFolded},
		{"swapped case", "QR:Canary-Token", string(Encode(CaseFolded, "QR:Canary-Token")), CaseFolded},
		{"lower-case, json-escaped", "CANARY<1>", quote(strings.ToLower("CANARY<1>")), CaseFolded},
		{"hex lower", tracking, "id=" + hex.EncodeToString([]byte(tracking)) + "00", Hex},
		{"hex upper", tracking, "ID=" + strings.ToUpper(hex.EncodeToString([]byte(tracking))), Hex},
		{"base64 at offset 0", tracking, base64.StdEncoding.EncodeToString([]byte(tracking + "tail")), Base64},
		{"base64 at offset 1", tracking, base64.StdEncoding.EncodeToString([]byte("a" + tracking + "tail")), Base64},
		{"base64 at offset 2", tracking, base64.StdEncoding.EncodeToString([]byte("ab" + tracking + "t")), Base64},
		{"base64 at offset 4 (1 mod 3), unpadded", tracking, base64.RawStdEncoding.EncodeToString([]byte("head" + tracking)), Base64},
		{"slog JSON handler, []byte attribute", tracking, slogJSON(tracking), Base64},
		{"base64url at offset 0", "???~~~>>>CANARY", base64.URLEncoding.EncodeToString([]byte("???~~~>>>CANARY")), Base64URL},
		{"base64url at offset 1", "???~~~>>>CANARY", base64.RawURLEncoding.EncodeToString([]byte("{???~~~>>>CANARY}")), Base64URL},
		{"base64url at offset 2", "???~~~>>>CANARY", base64.RawURLEncoding.EncodeToString([]byte("{\"???~~~>>>CANARY}")), Base64URL},
		{"base64url: JWS claims", "???~~~>>>CANARY", "eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"open","body":{"reason":"???~~~>>>CANARY"}}`)) + ".c2ln", Base64URL},
		{"utf-16le", tracking, "\xff\xfe" + string(utf16Of("scan "+tracking, binary.LittleEndian)), UTF16LE},
		// At the end: ASCII in UTF-16BE read one byte on is UTF-16LE but for its last byte.
		{"utf-16be", tracking, "\xfe\xff" + string(utf16Of("scan "+tracking, binary.BigEndian)), UTF16BE},
		{"utf-16le, lower-case", tracking, string(utf16Of(strings.ToLower(tracking), binary.LittleEndian)), UTF16LE},
		{"utf-16be inside binary data", tracking, "\x00\x01\x80\xff" + string(utf16Of(tracking, binary.BigEndian)) + "\x9f", UTF16BE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != Plain && strings.Contains(tc.data, tc.value) {
				t.Fatalf("the case is wrong: its data holds the value plainly")
			}
			got, ok := Find([]byte(tc.data), tc.value)
			if !ok || got != tc.want {
				t.Fatalf("Find(%q) = %q, %v; want %q", tc.data, got, ok, tc.want)
			}
		})
	}
}

// TestEncodeIsFound: every spelling Encode writes is found in that form, alone and
// between other bytes; planting relies on it.
func TestEncodeIsFound(t *testing.T) {
	for _, v := range []string{tracking, "73914682", "QR:CANARY-TOKEN-0042", "???~~~>>>CANARY"} {
		for _, f := range Forms() {
			for _, wrap := range [][2]string{{"", ""}, {"a", "z"}, {"ab", "\n"}, {"\x00\xff{", "}"}} {
				data := wrap[0] + string(Encode(f, v)) + wrap[1]
				got, ok := Find([]byte(data), v)
				if !ok {
					t.Fatalf("%s of %q in %q not found", f, v, data)
				}
				// A value without letters reads the same case-folded; a value whose
				// base64 has no + or / reads the same in both alphabets.
				same := (f == CaseFolded && got == Plain) ||
					(f == Base64URL && got == Base64 && bytes.Equal(Encode(Base64, v), Encode(Base64URL, v)))
				if got != f && !same {
					t.Errorf("%s of %q in %q found as %s", f, v, data, got)
				}
			}
		}
	}
}

// TestBase64EveryOffset encodes the value after 0 to 8 bytes of other text and before
// 0 to 3 bytes, in both alphabets, padded or not: each must be found.
func TestBase64EveryOffset(t *testing.T) {
	for _, v := range []string{tracking, "86420975", "???~~~>>>CANARY"} {
		for pre := 0; pre <= 8; pre++ {
			for post := 0; post <= 3; post++ {
				plain := strings.Repeat("p", pre) + v + strings.Repeat("q", post)
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
					data := enc.EncodeToString([]byte(plain))
					if f, ok := Find([]byte(data), v); !ok || (f != Base64 && f != Base64URL) {
						t.Fatalf("%q after %d bytes, before %d: %s, %v", v, pre, post, f, ok)
					}
				}
			}
		}
	}
}

// TestNoFalseHits: random bytes, their hex and base64, and near misses of each form
// hold none of the canaries.
func TestNoFalseHits(t *testing.T) {
	canaries := []string{tracking, "773019284756102", "73914682", "86420975", "CANARY-BADGE-7F3A", "QR:CANARY-TOKEN-0042"}
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	corpora := map[string][]byte{
		"random bytes":  random,
		"random hex":    []byte(hex.EncodeToString(random[:1<<18])),
		"random base64": []byte(base64.StdEncoding.EncodeToString(random[:1<<18])),
	}
	for _, v := range canaries {
		near := []byte(v)
		near[len(near)/2] ^= 0x01 // one bit off in the middle
		for _, f := range Forms() {
			corpora["near miss "+v+" "+string(f)] = Encode(f, string(near))
		}
	}
	for name, data := range corpora {
		for _, v := range canaries {
			if f, ok := Find(data, v); ok {
				t.Errorf("%s: %q found as %s", name, v, f)
			}
		}
	}
}

func TestUnescapeJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a\"b\\c\/d`, `a"b\c/d`},
		{`\n\t\r\b\f`, "\n\t\r\b\f"},
		{`\u0041\u00e9\u20AC`, "Aé€"},
		{`\ud83d\ude00`, "\U0001F600"},
		{`\ud83d alone`, "\uFFFD alone"},
		{`\u12 short`, `\u12 short`},
		{`\x unknown`, `\x unknown`},
		{`trailing\`, `trailing\`},
	}
	for _, tc := range tests {
		if got := string(unescapeJSON([]byte(tc.in))); got != tc.want {
			t.Errorf("unescapeJSON(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFoldKeepsBinary(t *testing.T) {
	in := []byte("AbZ\x00\xff\xc3\x28[@`{")
	if got := fold(in); !bytes.Equal(got, []byte("abz\x00\xff\xc3\x28[@`{")) {
		t.Fatalf("fold = %q", got)
	}
}

// BenchmarkScanStore scans a 16 MiB item shaped like a fresh bbolt file (mostly zero
// pages, some records) for eleven canaries, the size of the process tests' store.
func BenchmarkScanStore(b *testing.B) {
	data := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1<<20; i++ {
		data[r.IntN(len(data))] = byte(r.Uint32())
	}
	values := map[string]string{}
	for i, v := range []string{tracking, "773019284756102", "CANARYX5550123", "RA000000005DE", "73914682",
		"55281937", "90817263", "86420975", "13579024", "CANARY-BADGE-7F3A", "QR:CANARY-TOKEN-0042"} {
		values[strings.Repeat("c", i+1)] = v
	}
	h, err := New(values)
	if err != nil {
		b.Fatal(err)
	}
	var rec Record
	rec.Add("station.db", data)
	if err := h.Register(rec.Surface("state", KindState)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if r, err := h.Scan(); err != nil || len(r.Hits) != 0 {
			b.Fatal(err, r.Hits)
		}
	}
}
