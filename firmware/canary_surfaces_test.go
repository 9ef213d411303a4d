package firmware_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/firmware"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
	"github.com/lockerd/lockerd/sim"
)

// The surfaces the privacy canary tests register with internal/canary: lockerd's
// state directory, its log, and the control API's answers (the MQTT wiretap is in
// cloud_canary_test.go). Each plants its self-check canary the way its writer writes.

// canaries are the personal data of the privacy tests: each must reach lockerd and be
// used, and none may be found afterwards on any surface.
type canaries struct {
	tracking []string
	codes    []string
	qrs      []string // pickup QR secrets (ADR 0046)
	pins     []string
	badges   []string
}

func newCanaries() canaries {
	return canaries{
		tracking: []string{"RB987654326GB", "773019284756102", "CANARYX5550123", "RA000000005DE"},
		codes:    []string{"73914682", "55281937", "90817263"},
		qrs:      []string{"CANARYQRSECRETFORPARCELTWO", "CANARYQRSECRETNEVERISSUEDX"},
		// 8 digits: a 4-digit canary turns up by chance in hex ids and digests.
		pins: []string{"86420975", "13579024"},
		// As long as real badge tokens (privacy.MinBadgeLen): a shorter one is refused
		// before lockerd digests it, and would test nothing.
		badges: []string{"CANARY-BADGE-7F3A-Q2XWZ5LMNOP", "QR:CANARY-TOKEN-0042-UNKNOWN-XY"},
	}
}

// canaryPhone is the canary recipients' phone's last four digits: needed to pick up,
// but not itself a canary (four digits turn up by chance in hex ids and digests).
const canaryPhone = "7305"

func (c canaries) all() map[string]string {
	out := map[string]string{}
	for kind, vs := range map[string][]string{"tracking": c.tracking, "code": c.codes, "qr": c.qrs, "pin": c.pins, "badge": c.badges} {
		for i, v := range vs {
			out[fmt.Sprintf("%s #%d", kind, i)] = v
		}
	}
	return out
}

// atRest returns what may travel (the cloud sends it, the panel shows it) but must
// never be at rest in the state directory in a form the cloud or a holder of the
// device keys could match (docs/privacy.md §1, §7): the hint of each tracking number
// and, raw and in hex, its waybill digest, each code's verifier, and each badge's
// digest and PIN verifier. The store keeps all of them sealed under epoch keys
// (hints, digests) or a courier's own key (ADR 0049).
func (c canaries) atRest(t *testing.T, cloud *sim.Cloud, lockerID string) map[string]string {
	t.Helper()
	k, err := cloud.Keys(lockerID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	digest := func(name string, d privacy.Digest) {
		out[name+" (raw)"], out[name+" (hex)"] = string(d[:]), d.Hex()
	}
	for i, tn := range c.tracking {
		canonical, err := waybill.Normalise(tn)
		if err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("hint #%d", i)] = waybill.Hint(canonical) // "…" and 4 characters: 7 bytes
		digest(fmt.Sprintf("waybill digest #%d", i), k.Waybill(canonical))
	}
	for i, code := range c.codes {
		digest(fmt.Sprintf("code verifier #%d", i), k.CodeVerifier(code))
	}
	for i, b := range c.badges {
		digest(fmt.Sprintf("badge digest #%d", i), k.Badge(b))
		for j, pin := range c.pins {
			digest(fmt.Sprintf("PIN verifier #%d/%d", i, j), k.Courier(b, pin))
		}
	}
	return out
}

// checkAtRest scans the state directory for c.atRest: nothing there may be matched.
func (c canaries) checkAtRest(t *testing.T, cloud *sim.Cloud, st *sim.Station) {
	t.Helper()
	h, err := canary.New(c.atRest(t, cloud, st.ID))
	if err != nil {
		t.Fatal(err)
	}
	register(t, h, stateSurface(st))
	h.Check(t)
}

func (c canaries) harness(t *testing.T) *canary.Harness {
	t.Helper()
	h, err := canary.New(c.all())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func register(t *testing.T, h *canary.Harness, surfaces ...canary.Surface) {
	t.Helper()
	for _, s := range surfaces {
		if err := h.Register(s); err != nil {
			t.Fatal(err)
		}
	}
}

// logFormats are the formats the canary tests run lockerd with: its default (the
// config leaves log.format out; lockerd then writes JSON, firmware/cmd/lockerd's
// newLogger) and text. The JSON handler writes a []byte as base64 and escapes
// strings, the text handler does neither: a leak can hide in one and not the other.
var logFormats = []struct{ name, format string }{{"default-json", ""}, {"text", "text"}}

// setLogFormat rewrites the station's config file with log.format set to format, or
// removed when format is "": what lockerd does without the key is what it does in
// the field.
func setLogFormat(t *testing.T, st *sim.Station, format string) {
	t.Helper()
	data, err := os.ReadFile(st.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	logCfg, _ := cfg["log"].(map[string]any)
	if logCfg == nil {
		logCfg = map[string]any{}
	}
	delete(logCfg, "format")
	if format != "" {
		logCfg["format"] = format
	}
	cfg["log"] = logCfg
	if data, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.ConfigPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st.Config.Log.Format = format
}

// checkLogFormat fails t unless every line of lockerd's log is in the format asked
// for: a test that meant to read JSON must not have read text.
func checkLogFormat(t *testing.T, path, format string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i, line := range lines {
		isJSON := json.Valid([]byte(line)) && strings.HasPrefix(line, "{")
		if isJSON != (format != "text") || (!isJSON && !strings.HasPrefix(line, "time=")) {
			t.Fatalf("lockerd's log line %d is not %s: %.200s", i+1, map[bool]string{true: "JSON", false: "text"}[format != "text"], line)
		}
	}
}

// logSurface is lockerd's log. Its canary is planted as lockerd would leak one:
// a []byte attribute written by the handler of the log's format (base64 in JSON).
func logSurface(path, format string) canary.Surface {
	s := canary.File("lockerd log", canary.KindLog, path)
	// Evidence that the log saw the scenario: deposits and pickups at debug level.
	s.Expect = []string{"picked_up", "deposited"}
	s.Plant = func(value string) ([]string, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		var h slog.Handler = slog.NewJSONHandler(f, nil)
		if format == "text" {
			h = slog.NewTextHandler(f, nil)
		}
		slog.New(h).Info("scan", "raw", []byte(value))
		return []string{filepath.Base(path)}, f.Close()
	}
	return s
}

// stateSurface is every file in lockerd's state directory; the store, the keyring and
// the identity must be among them. The store's canary is planted by a bbolt Put, as
// lockerd stores a record; the other files get it appended.
func stateSurface(st *sim.Station) canary.Surface {
	store, err := filepath.Rel(st.Config.StateDir, firmware.StorePath(st.Config))
	if err != nil {
		panic(err)
	}
	return canary.Dir("state directory", canary.KindState, st.Config.StateDir, canary.DirOptions{
		Require:  []string{store, privacy.KeyringFile, privacy.IdentityFile},
		Planters: map[string]func(path, value string) error{store: plantInBolt},
	})
}

func plantInBolt(path, value string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("canary-plant"))
		if err != nil {
			return err
		}
		return b.Put([]byte("plant"), []byte(value))
	})
	return errors.Join(err, db.Close())
}

// apiTap stands between a control client and lockerd's control socket and records
// the bytes of both directions, so that every answer lockerd wrote is scanned as it
// crossed the socket, whatever the client made of it (an error reply the client
// turns into a Go error is scanned too).
type apiTap struct {
	ln     net.Listener
	path   string
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []*tapConn
	open  []net.Conn
}

type tapConn struct{ req, resp bytes.Buffer } // guarded by apiTap.mu

// lockedWriter appends to a buffer under the tap's lock.
type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func newAPITap(t *testing.T, st *sim.Station) *apiTap {
	t.Helper()
	a := &apiTap{path: filepath.Join(t.TempDir(), "api-tap.sock"), target: firmware.SocketPath(st.Config)}
	ln, err := net.Listen("unix", a.path)
	if err != nil {
		t.Fatal(err)
	}
	a.ln = ln
	a.wg.Add(1)
	go a.serve()
	t.Cleanup(func() {
		ln.Close()
		a.mu.Lock()
		for _, c := range a.open {
			c.Close()
		}
		a.mu.Unlock()
		a.wg.Wait()
	})
	return a
}

// client returns a control client whose calls go through the tap.
func (a *apiTap) client(t *testing.T) *control.Client {
	c := control.NewClient(a.path)
	t.Cleanup(c.Close)
	return c
}

func (a *apiTap) serve() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.wg.Add(1)
		go a.relay(c)
	}
}

func (a *apiTap) relay(c net.Conn) {
	defer a.wg.Done()
	defer c.Close()
	s, err := net.Dial("unix", a.target)
	if err != nil {
		return // the client sees its connection closed and fails
	}
	defer s.Close()
	tc := &tapConn{}
	a.mu.Lock()
	a.conns = append(a.conns, tc)
	a.open = append(a.open, c, s)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_, _ = io.Copy(s, io.TeeReader(c, lockedWriter{&a.mu, &tc.req}))
		_ = s.(*net.UnixConn).CloseWrite()
	}()
	// The answer is recorded before the client gets it: once a call returns, its
	// answer is in the tap.
	_, _ = io.Copy(c, io.TeeReader(s, lockedWriter{&a.mu, &tc.resp}))
}

// answers parses the recorded traffic: one item per answer (status line, headers and
// the body, de-chunked), named by the request it answers. A request without an
// answer, or bytes that are no answer, are an error: the scan would not have seen
// everything lockerd wrote.
func (a *apiTap) answers() ([]canary.Item, error) {
	a.mu.Lock()
	type pair struct{ req, resp []byte }
	var conns []pair
	for _, c := range a.conns {
		conns = append(conns, pair{bytes.Clone(c.req.Bytes()), bytes.Clone(c.resp.Bytes())})
	}
	a.mu.Unlock()
	var items []canary.Item
	for ci, c := range conns {
		rr, sr := bufio.NewReader(bytes.NewReader(c.req)), bufio.NewReader(bytes.NewReader(c.resp))
		for n := 0; ; n++ {
			req, err := http.ReadRequest(rr)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return items, fmt.Errorf("connection %d request %d: %w", ci, n, err)
			}
			_, _ = io.Copy(io.Discard, req.Body)
			resp, err := http.ReadResponse(sr, req)
			if err != nil {
				return items, fmt.Errorf("connection %d: no answer to %s %s: %w", ci, req.Method, req.URL.Path, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return items, fmt.Errorf("connection %d: answer to %s %s: %w", ci, req.Method, req.URL.Path, err)
			}
			var data bytes.Buffer
			fmt.Fprintf(&data, "%s %s\r\n", resp.Proto, resp.Status)
			_ = resp.Header.Write(&data)
			data.WriteString("\r\n")
			data.Write(body)
			items = append(items, canary.Item{Name: fmt.Sprintf("answer %d.%d to %s %s (%d)", ci, n, req.Method, req.URL.Path, resp.StatusCode),
				Data: data.Bytes()})
		}
		if rest, _ := io.ReadAll(sr); len(rest) > 0 {
			return items, fmt.Errorf("connection %d: %d bytes answer no request", ci, len(rest))
		}
	}
	return items, nil
}

// surface is the control API's answers. minAnswers is how many calls the test made
// through the tap at least.
func (a *apiTap) surface(minAnswers int) canary.Surface {
	return canary.Surface{
		Name: "control API answers", Kind: canary.KindAPI, MinItems: minAnswers,
		// Evidence that the answers include a scan's slot, a pickup and a refusal.
		Expect:  []string{`"hint":`, `"compartments":`, `"reason":"wrong_code"`},
		Collect: a.answers,
		// lockerd never echoes a value it was sent, so no real call can plant one: the
		// canary is planted as an answer recorded on a connection of its own, chunked
		// with a chunk boundary inside the escaped value, and parsed as the real ones.
		Plant: func(value string) ([]string, error) {
			body := `{"error":"` + string(canary.Encode(canary.JSONEscaped, value)) + `"}`
			half := len(body) / 2
			tc := &tapConn{}
			tc.req.WriteString("POST /v1/plant HTTP/1.1\r\nHost: lockerd\r\nContent-Length: 0\r\n\r\n")
			fmt.Fprintf(&tc.resp, "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
				half, body[:half], len(body)-half, body[half:])
			a.mu.Lock()
			a.conns = append(a.conns, tc)
			n := len(a.conns) - 1
			a.mu.Unlock()
			return []string{fmt.Sprintf("answer %d.0 to POST /v1/plant (409)", n)}, nil
		},
	}
}
