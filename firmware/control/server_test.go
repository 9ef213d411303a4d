package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

type doors struct{}

func (doors) Unlock(context.Context, locker.CompartmentID) error { return nil }
func (doors) DoorOpen(locker.CompartmentID) (bool, bool)         { return false, true }

// apiFixture is a real station behind the API, on a real Unix socket.
type apiFixture struct {
	st     *locker.Station
	cloud  *privacy.Keys
	client *Client
	srv    *Server
}

func newAPI(t testing.TB, admin bool, opts ...func(*Server)) *apiFixture {
	return newAPIWith(t, fixtureConfig{admin: admin}, opts...)
}

// fixtureConfig shapes newAPIWith's station: its compartments (one M door when
// nil), policy and lock driver, and what is done to the station before the server
// starts (prepare; then, with reopen, the station is closed and opened again on
// the same store, as after a restart).
type fixtureConfig struct {
	admin    bool
	specs    []locker.CompartmentSpec
	policy   func(*locker.Policy)
	unlocker locker.Unlocker
	prepare  func(st *locker.Station, cloud *privacy.Keys)
	reopen   bool
}

func newAPIWith(t testing.TB, cfg fixtureConfig, opts ...func(*Server)) *apiFixture {
	dir := filepath.Join(t.TempDir(), "state")
	id, err := privacy.LoadOrCreateIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	fpriv, fpub, _ := privacy.GenerateFleetKey()
	keys, _ := privacy.DeriveKeys(id, fpub, "API-1")
	cloud, _ := privacy.DeriveCloudKeys(fpriv, id.Public(), "API-1")
	kr, err := privacy.OpenKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	pol := locker.DefaultPolicy()
	pol.CodeThrottle.MaxFailures = 2
	pol.LegacyCodes = true                    // scheme-1 codes and their lock-out, below
	pol.CodeEntry.Delay = locker.MinCodeDelay // the gate's real wait between failures
	if cfg.policy != nil {
		cfg.policy(&pol)
	}
	specs := cfg.specs
	if specs == nil {
		specs = []locker.CompartmentSpec{{ID: 1, Size: locker.SizeM, Kind: locker.KindDoor}}
	}
	var unlocker locker.Unlocker = doors{}
	if cfg.unlocker != nil {
		unlocker = cfg.unlocker
	}
	open := func() *locker.Station {
		st, err := locker.Open(locker.Options{LockerID: "API-1", StorePath: filepath.Join(dir, "s.db"), OpenStore: boltstore.Open, Policy: pol,
			Compartments: specs, Keys: keys, Keyring: kr, Unlocker: unlocker, Doors: doors{}, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	if cfg.prepare != nil {
		cfg.prepare(st, cloud)
	}
	if cfg.reopen {
		st.Close()
		st = open()
		if err := st.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	admin := cfg.admin
	srv := NewServer(st, IdentityReply{LockerID: "API-1", Public: id.PublicHex()}, admin, slog.New(slog.DiscardHandler))
	for _, o := range opts {
		o(srv)
	}
	sock := filepath.Join(t.TempDir(), "c.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f := &apiFixture{st: st, cloud: cloud, client: NewClient(sock), srv: srv}
	t.Cleanup(func() {
		cancel()
		<-done
		f.client.Close()
		st.Close()
		kr.Close()
	})
	return f
}

// Badge tokens of the tests: as long as real ones (privacy.MinBadgeLen).
const (
	tokB = "BADGE-B-ABCDEFGHIJKLMNOPQR"
	tokK = "BADGE-K-ABCDEFGHIJKLMNOPQR"
)

func TestAPIErrorsMatchStationSentinels(t *testing.T) {
	f := newAPI(t, true)
	ctx := context.Background()
	_, err := f.client.PickupCode(ctx, "12345678", "4321")
	if !errors.Is(err, locker.ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	_, err = f.client.Pickup(ctx, "12")
	var te *Error
	if !errors.Is(err, locker.ErrCodeFormat) || !errors.As(err, &te) || te.Reason != "code_format" || te.Status != http.StatusBadRequest {
		t.Fatalf("malformed code: %#v", err)
	}
	if _, err = f.client.Pickup(ctx, "87654321"); !errors.Is(err, locker.ErrWrongCode) {
		t.Fatalf("second failure: %v", err)
	}
	_, err = f.client.Pickup(ctx, "87654321")
	if !errors.Is(err, locker.ErrThrottled) || !errors.As(err, &te) || te.RetryAfter <= 0 || te.Status != http.StatusTooManyRequests {
		t.Fatalf("legacy code after max_failures 2: %#v", err)
	}
	_, err = f.client.Scan(ctx, "nope", "RB123456785GB", "")
	if !errors.Is(err, locker.ErrNotLoggedIn) {
		t.Fatalf("scan without session: %v", err)
	}
	_, err = f.client.Login(ctx, tokB, "1234")
	if !errors.Is(err, locker.ErrBadCredentials) {
		t.Fatalf("login: %v", err)
	}
	if err := f.client.UpsertCourier(ctx, CourierRequest{ID: "c", Badge: f.cloud.Badge(tokB).Hex(), Verifier: f.cloud.Courier(tokB, "1357").Hex(), Rights: locker.Rights{Deposit: true}}); err != nil {
		t.Fatal(err)
	}
	// The single credential digest of earlier builds is refused, saying so.
	retired := CourierRequest{ID: "c", Credential: f.cloud.Courier(tokB, "1357").Hex(), Rights: locker.Rights{Deposit: true}}
	if err := f.client.UpsertCourier(ctx, retired); err == nil || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("a courier of the retired form: %v", err)
	}
	sid, err := f.client.Login(ctx, tokB, "1357")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.Scan(ctx, sid, strings.Repeat("9", 10_000), "S")
	if !errors.As(err, &te) || te.Reason != "bad_scan" || strings.Contains(te.Message, "99999") {
		t.Fatalf("10 kB scan: %#v", err)
	}
	_, err = f.client.Scan(ctx, sid, "RB123456785GB", "XXL")
	if !errors.As(err, &te) || te.Reason != "bad_request" {
		t.Fatalf("bad size: %#v", err)
	}
	slot, err := f.client.Scan(ctx, sid, "RB123456785GB", "S")
	if err != nil || slot.Compartment != 1 {
		t.Fatalf("%+v %v", slot, err)
	}
	_, err = f.client.Scan(ctx, sid, "100000000002", "S")
	if !errors.Is(err, locker.ErrNoFreeCompartment) {
		t.Fatalf("full locker: %v", err)
	}
}

func TestAPIRefusesMalformedRequests(t *testing.T) {
	f := newAPI(t, false)
	cases := []struct {
		name, method, path, body string
		status                   int
		reason                   string
	}{
		{"not json", "POST", PathPickup, "code=1", 400, "bad_request"},
		{"unknown field", "POST", PathPickup, `{"code":"12345678","pin":"1"}`, 400, "bad_request"},
		{"trailing data", "POST", PathPickup, `{"code":"12345678"} {}`, 400, "bad_request"},
		{"wrong type", "POST", PathLogin, `{"badge":1,"pin":2}`, 400, "bad_request"},
		{"too large", "POST", PathPickup, `{"code":"` + strings.Repeat("1", MaxBody) + `"}`, 400, "bad_request"},
		{"admin off", "POST", PathAnnounce, `{"parcels":[]}`, 404, ""},
		{"wrong method", "GET", PathPickup, "", 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			f.srv.ServeHTTP(rec, req.WithContext(withRights(req.Context(), RightsFull)))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.reason != "" {
				var er ErrorReply
				if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Reason != tc.reason {
					t.Fatalf("body %s", rec.Body)
				}
			}
		})
	}
	st, _ := f.st.Status()
	if st.AuditSeq != 0 {
		t.Fatalf("malformed requests changed state: %+v", st)
	}
}

func TestAPIStopsCleanly(t *testing.T) {
	f := newAPI(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.client.Status(ctx); err != nil {
		t.Fatal(err)
	}
}

// FuzzAPI sends arbitrary bodies to every endpoint: the answer is never a 5xx and is
// always JSON, and no input is echoed back in an error.
func FuzzAPI(f *testing.F) {
	paths := []string{PathPickup, PathLogin, PathScan, PathCancel, PathRetrieve, PathLogout, PathHandover,
		PathAnnounce, PathCourier, PathResolve}
	f.Add(uint8(0), []byte(`{"code":"12345678"}`))
	f.Add(uint8(2), []byte(`{"session":"x","scan":"RB123456785GB","size":"M"}`))
	f.Add(uint8(7), []byte(`{"parcels":[{"id":"p","waybill":"00","size":"S"}]}`))
	f.Add(uint8(9), []byte(`{"compartment":1,"present":true,"operator":"o"}`))
	api := newAPI(f, true)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", paths[int(which)%len(paths)], bytes.NewReader(body))
		api.srv.ServeHTTP(rec, req.WithContext(withRights(req.Context(), RightsFull)))
		if rec.Code >= 500 && rec.Code != http.StatusBadGateway {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		out, _ := io.ReadAll(rec.Body)
		if !json.Valid(out) {
			t.Fatalf("reply is not JSON: %q", out)
		}
	})
}
