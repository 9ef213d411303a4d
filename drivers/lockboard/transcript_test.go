package lockboard_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/drivers/lockboard"
)

// A transcript record in testdata/<protocol>/<category>.txt:
//
//	# name
//	> host-to-board bytes (hex)
//	< board-to-host bytes (hex), optional
//	= ok key=value ...   or   = err=<kind> used=N
//
// With a "<" line the reply is decoded as an answer to the request;
// otherwise the request itself is decoded (and, if ok, re-encoded).
type record struct {
	file, name string
	req, rep   []byte
	want       map[string]string
}

func loadTranscripts(t testing.TB, proto string) []record {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", proto, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts for %s: %v", proto, err)
	}
	var out []record
	for _, f := range files {
		out = append(out, parseTranscript(t, f)...)
	}
	return out
}

func parseTranscript(t testing.TB, path string) []record {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []record
	var cur *record
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		tag, rest, _ := strings.Cut(line, " ")
		if tag == "#" {
			out = append(out, record{file: filepath.Base(path), name: rest})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			t.Fatalf("%s:%d: line before the first # name", path, n)
		}
		switch tag {
		case ">", "<":
			b, err := hex.DecodeString(strings.ReplaceAll(rest, " ", ""))
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			if tag == ">" {
				cur.req = b
			} else {
				cur.rep = b
			}
		case "=":
			cur.want = map[string]string{}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				cur.want[k] = v
			}
		default:
			t.Fatalf("%s:%d: unknown tag %q", path, n, tag)
		}
	}
	return out
}

var errKinds = map[string]error{
	"checksum":   lockboard.ErrChecksum,
	"malformed":  lockboard.ErrMalformed,
	"incomplete": lockboard.ErrIncomplete,
}

func checkResult(t *testing.T, want map[string]string, got map[string]string, used int, err error) {
	t.Helper()
	if w, ok := want["err"]; ok {
		if !errors.Is(err, errKinds[w]) {
			t.Fatalf("err = %v, want %s", err, w)
		}
	} else if err != nil {
		t.Fatalf("err = %v, want ok", err)
	}
	got["used"] = strconv.Itoa(used)
	for k, w := range want {
		if k == "err" || k == "ok" {
			continue
		}
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
}

func TestTranscripts(t *testing.T) {
	for _, p := range []lockboard.Protocol{lockboard.ProtocolCU16, lockboard.Protocol8A} {
		for _, rec := range loadTranscripts(t, p.String()) {
			t.Run(p.String()+"/"+rec.file+"/"+rec.name, func(t *testing.T) {
				if rec.want == nil || rec.req == nil {
					t.Fatal("record needs a > line and an = line")
				}
				if rec.rep == nil {
					req, used, err := lockboard.DecodeRequest(p, rec.req)
					got := map[string]string{"op": req.Op.String(), "board": strconv.Itoa(req.Board), "lock": strconv.Itoa(req.Lock)}
					checkResult(t, rec.want, got, used, err)
					if err == nil {
						enc, err := lockboard.EncodeRequest(req)
						if err != nil || hex.EncodeToString(enc) != hex.EncodeToString(rec.req[used-len(enc):used]) {
							t.Errorf("re-encoded % X, %v; want % X", enc, err, rec.req[used-5:used])
						}
					}
					return
				}
				req, _, err := lockboard.DecodeRequest(p, rec.req)
				if err != nil {
					t.Fatalf("request line: %v", err)
				}
				rep, used, err := lockboard.DecodeReply(p, req.ReplyKind(), rec.rep)
				width := 4
				if p == lockboard.Protocol8A {
					width = 6
				}
				got := map[string]string{
					"board":   strconv.Itoa(rep.Board),
					"lock":    strconv.Itoa(rep.Lock),
					"locks":   fmt.Sprintf("0x%0*x", width, rep.Locks),
					"sensors": fmt.Sprintf("0x%04x", rep.Sensors),
					"echo":    strconv.FormatBool(rep.Echo),
					"answers": strconv.FormatBool(err == nil && req.Answers(rep)),
				}
				checkResult(t, rec.want, got, used, err)
			})
		}
	}
}
