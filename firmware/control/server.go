package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/waybill"
)

// MaxBody bounds a request body. A 10 kB scan still arrives, so that the station can
// refuse it with a clear reason rather than the transport with a vague one.
const MaxBody = 256 << 10

// Server serves the control API for one station.
type Server struct {
	st       *locker.Station
	log      *slog.Logger
	admin    bool
	identity IdentityReply
	mux      *http.ServeMux
	// panelUIDs get panel rights only (PanelUIDs).
	panelUIDs []uint32
}

// NewServer builds the API. admin enables the provisioning endpoints.
func NewServer(st *locker.Station, identity IdentityReply, admin bool, log *slog.Logger) *Server {
	s := &Server{st: st, log: log.With("unit", "control"), admin: admin, identity: identity, mux: http.NewServeMux()}
	s.mux.HandleFunc("POST "+PathPickup, s.pickup)
	s.mux.HandleFunc("POST "+PathLogin, s.login)
	s.mux.HandleFunc("POST "+PathScan, s.scan)
	s.mux.HandleFunc("POST "+PathCancel, s.cancel)
	s.mux.HandleFunc("POST "+PathRetrieve, s.retrieve)
	s.mux.HandleFunc("POST "+PathLogout, s.logout)
	s.mux.HandleFunc("POST "+PathHandover, s.handover)
	s.mux.HandleFunc("GET "+PathStatus, s.status)
	s.mux.HandleFunc("GET "+PathInv, s.inventory)
	s.mux.HandleFunc("GET "+PathIdentity, func(w http.ResponseWriter, r *http.Request) { reply(w, s.identity) })
	if admin {
		s.mux.HandleFunc("POST "+PathAnnounce, s.announce)
		s.mux.HandleFunc("POST "+PathCourier, s.courier)
		s.mux.HandleFunc("POST "+PathResolve, s.resolve)
	}
	return s
}

// ServeDrivers answers GET /v1/drivers with what drivers returns.
func (s *Server) ServeDrivers(drivers func() []DriverStatus) {
	s.mux.HandleFunc("GET "+PathDrivers, func(w http.ResponseWriter, r *http.Request) { reply(w, drivers()) })
}

// ServeHTTP implements http.Handler with the caller's rights (ADR 0048), a body limit
// and an access log without bodies.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	if p := peerOf(r.Context()); p.rights != RightsFull && !panelPaths[r.URL.Path] {
		// A refusal is worth a line at the default level: a panel service calling an
		// admin endpoint is either misconfigured or compromised. The uid and pid are a
		// system user's, not a person's.
		s.log.Warn("endpoint refused to a panel caller", "method", r.Method, "path", r.URL.Path,
			"uid", p.uid, "pid", p.pid)
		fail(rec, fmt.Errorf("%w: %s %s needs lockerd's user or root, and this caller has panel rights only", ErrForbidden, r.Method, r.URL.Path))
	} else if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unrouted(rec, r)
	} else {
		s.mux.ServeHTTP(rec, r)
	}
	s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start))
}

// unrouted answers a request no endpoint takes with an ErrorReply, as every other
// refusal: 405 and the Allow header when the path exists under another method, else
// 404. Neither echoes the path, which is the caller's input. (The mux's own answers are text/plain, which a client reading ErrorReply
// cannot parse.)
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		fail(w, fmt.Errorf("%w (docs/control-api.yaml lists them)", errNotFound))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	fail(w, fmt.Errorf("%w: this path takes %s", errMethod, strings.Join(allow, ", ")))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Listen opens the Unix socket at path, replacing a stale socket file. The socket is
// mode 0660: the front-panel services run in lockerd's group.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return ln, nil
}

// Serve answers requests on ln until ctx ends, then shuts down gracefully and removes
// the socket file.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	path := ln.Addr().String()
	hs := &http.Server{Handler: s, ConnContext: s.connContext, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("control: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-done
	os.Remove(path)
	return err
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, fmt.Errorf("%w: body larger than %d bytes", errBadRequest, MaxBody))
			return false
		}
		fail(w, fmt.Errorf("%w: body is not the expected JSON", errBadRequest))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		fail(w, fmt.Errorf("%w: trailing data after the JSON body", errBadRequest))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, err error) {
	body := ErrorReply{Error: err.Error(), Reason: "internal"}
	status := http.StatusInternalServerError
	for _, waybillErr := range []error{waybill.ErrEmpty, waybill.ErrTooLong, waybill.ErrCharset, waybill.ErrCheckDigit, waybill.ErrFormat} {
		if errors.Is(err, waybillErr) {
			err = fmt.Errorf("%w: %w", errBadScan, err)
		}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			body.Reason, status = r.reason, r.status
			break
		}
	}
	var te *locker.ThrottledError
	if errors.As(err, &te) {
		// Rounded up, and never 0: a throttled answer always carries its wait (under a
		// millisecond left, 0 would drop the member, which docs/control-api.yaml requires).
		body.RetryAfterMS = max(1, (te.RetryAfter + time.Millisecond - 1).Milliseconds())
		w.Header().Set("Retry-After", fmt.Sprint(int(te.RetryAfter.Seconds()+0.999)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, v)
}

func (s *Server) pickup(w http.ResponseWriter, r *http.Request) {
	var req CodeRequest
	if decode(w, r, &req) {
		var res locker.Pickup
		var err error
		if req.QR != "" {
			res, err = s.st.EnterQR(r.Context(), req.QR)
		} else {
			res, err = s.st.EnterCode(locker.WithInput(r.Context(), locker.InputControl), req.Code, req.Phone)
		}
		answer(w, res, err)
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if decode(w, r, &req) {
		sid, err := s.st.Login(r.Context(), req.Badge, req.PIN)
		answer(w, LoginReply{Session: sid}, err)
	}
}

func (s *Server) scan(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if !decode(w, r, &req) {
		return
	}
	size := locker.SizeUnknown
	if req.Size != "" {
		var err error
		if size, err = locker.ParseSize(req.Size); err != nil {
			fail(w, fmt.Errorf("%w: %w", errBadRequest, err))
			return
		}
	}
	slot, err := s.st.Scan(r.Context(), req.Session, req.Scan, size)
	answer(w, slot, err)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if decode(w, r, &req) {
		answer(w, struct{}{}, s.st.Cancel(r.Context(), req.Session))
	}
}

func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if decode(w, r, &req) {
		slots, err := s.st.Retrieve(r.Context(), req.Session)
		answer(w, SlotsReply{Slots: slots}, err)
	}
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	var req SessionRequest
	if decode(w, r, &req) {
		s.st.Logout(req.Session)
		reply(w, struct{}{})
	}
}

func (s *Server) handover(w http.ResponseWriter, r *http.Request) {
	var req ScanRequest
	if decode(w, r, &req) {
		slot, err := s.st.Handover(r.Context(), req.Handover, req.Scan)
		answer(w, slot, err)
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.st.Status()
	answer(w, st, err)
}

func (s *Server) inventory(w http.ResponseWriter, r *http.Request) {
	inv, err := s.st.Inventory()
	answer(w, inv, err)
}

func (s *Server) announce(w http.ResponseWriter, r *http.Request) {
	var req AnnounceRequest
	if !decode(w, r, &req) {
		return
	}
	batch := make([]locker.Announcement, len(req.Parcels))
	for i, a := range req.Parcels {
		wb, err := privacy.ParseDigest(a.Waybill)
		if err != nil {
			fail(w, fmt.Errorf("%w: parcels[%d].waybill: %w", errBadRequest, i, err))
			return
		}
		var v, cv, qv privacy.Digest
		for _, d := range []struct {
			name, hex string
			dst       *privacy.Digest
		}{{"verifier", a.Verifier, &v}, {"code_verifier", a.CodeVerifier, &cv}, {"qr_verifier", a.QRVerifier, &qv}} {
			if d.hex == "" {
				continue
			}
			if *d.dst, err = privacy.ParseDigest(d.hex); err != nil {
				fail(w, fmt.Errorf("%w: parcels[%d].%s: %w", errBadRequest, i, d.name, err))
				return
			}
		}
		size, err := locker.ParseSize(a.Size)
		if err != nil {
			fail(w, fmt.Errorf("%w: parcels[%d].size: %w", errBadRequest, i, err))
			return
		}
		batch[i] = locker.Announcement{ID: locker.ParcelID(a.ID), Waybill: wb, Verifier: v,
			Verifiers: locker.Verifiers{Code: cv, QR: qv}, Size: size, Hint: a.Hint, Until: a.Until}
	}
	errs, err := s.st.Announce(r.Context(), batch)
	if err != nil {
		fail(w, err)
		return
	}
	out := AnnounceReply{Errors: make([]string, len(errs))}
	for i, e := range errs {
		if e != nil {
			out.Errors[i] = e.Error()
		}
	}
	reply(w, out)
}

func (s *Server) courier(w http.ResponseWriter, r *http.Request) {
	var req CourierRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Credential != "" {
		fail(w, fmt.Errorf("%w: credential: retired, send badge and verifier (docs/privacy.md §3)", errBadRequest))
		return
	}
	badge, err := privacy.ParseDigest(req.Badge)
	if err != nil {
		fail(w, fmt.Errorf("%w: badge: %w", errBadRequest, err))
		return
	}
	verifier, err := privacy.ParseDigest(req.Verifier)
	if err != nil {
		fail(w, fmt.Errorf("%w: verifier: %w", errBadRequest, err))
		return
	}
	// The station's own conditions, refused here as the request's fault: the station
	// returns them as a plain error, which would read as 500 internal.
	if req.ID == "" || len(req.ID) > maxCourierID || badge.IsZero() || verifier.IsZero() {
		fail(w, fmt.Errorf("%w: a courier needs an id of 1 to %d bytes and non-zero badge and verifier digests", errBadRequest, maxCourierID))
		return
	}
	answer(w, struct{}{}, s.st.UpsertCourier(r.Context(), locker.Courier{ID: req.ID, Badge: badge, Verifier: verifier, Rights: req.Rights}))
}

// maxCourierID is the longest courier id the station stores (locker.Station.UpsertCourier).
const maxCourierID = 64

func (s *Server) resolve(w http.ResponseWriter, r *http.Request) {
	var req ResolveRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Compartment < 1 || req.Compartment > 65535 || req.Operator == "" {
		fail(w, fmt.Errorf("%w: compartment 1..65535 and operator required", errBadRequest))
		return
	}
	answer(w, struct{}{}, s.st.Resolve(r.Context(), locker.CompartmentID(req.Compartment), req.Present, req.Operator,
		"on site, control socket"))
}
