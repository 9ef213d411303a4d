package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
)

// The control API's document, docs/control-api.yaml, held to the code. Its
// conventions (x-rights, x-admin, x-request, x-given) are described at its top. A
// second server's document (the kiosk's) reuses loadOpenAPI, documentedRoutes,
// exchangesOf and checkExchange with its own registered routes and its own fixture
// for the x-given states.

const controlAPIDoc = "../../docs/control-api.yaml"

// loadOpenAPI reads and validates an OpenAPI 3.1 document with kin-openapi: its
// structure, its $refs, and every example against its schema.
func loadOpenAPI(t *testing.T, path string) *openapi3.T {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s: openapi %s, want 3.1", path, doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", path, err)
	}
	return doc
}

// route is one (method, path) pair.
type route struct{ method, path string }

func (r route) String() string { return r.method + " " + r.path }

// documentedRoutes returns the operations of doc, with admin the ones marked
// x-admin too.
func documentedRoutes(doc *openapi3.T, admin bool) []route {
	var out []route
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Extensions["x-admin"] == true && !admin {
				continue
			}
			out = append(out, route{method, path})
		}
	}
	return sortRoutes(out)
}

func sortRoutes(rs []route) []route {
	sort.Slice(rs, func(i, j int) bool { return rs[i].String() < rs[j].String() })
	return rs
}

// pathConstants returns the values of api.go's Path constants: every path the
// server may register.
func pathConstants(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "api.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Path") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("api.go: %s is not a string literal", n.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("api.go has no Path constants")
	}
	return out
}

// registeredRoutes asks the mux of a server built as firmware/run.go builds it
// (NewServer, then ServeDrivers) which (method, path) pairs it serves, for every
// Path constant and every method.
func registeredRoutes(t *testing.T, admin bool) []route {
	t.Helper()
	s := NewServer(nil, IdentityReply{}, admin, slog.New(slog.DiscardHandler))
	s.ServeDrivers(func() []DriverStatus { return nil })
	var out []route
	for _, p := range pathConstants(t) {
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
			req, _ := http.NewRequest(m, "http://lockerd"+p, nil)
			if _, pattern := s.mux.Handler(req); pattern != "" {
				if m == "HEAD" { // the mux serves HEAD for every GET pattern
					continue
				}
				out = append(out, route{m, p})
			}
		}
	}
	return sortRoutes(out)
}

// TestOpenAPIRoutesAreTheServers: the document has exactly the (method, path) pairs
// the server registers, with and without control.admin, and marks each with the
// rights ADR 0048 gives it.
func TestOpenAPIRoutesAreTheServers(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	for _, admin := range []bool{false, true} {
		got, want := documentedRoutes(doc, admin), registeredRoutes(t, admin)
		if !slices.Equal(got, want) {
			t.Errorf("admin %v:\ndocument %v\nserver   %v", admin, got, want)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := "full"
			if panelPaths[path] {
				want = "panel"
			}
			if got := op.Extensions["x-rights"]; got != want {
				t.Errorf("%s %s: x-rights %v, the server gives it to %s callers", method, path, got, want)
			}
		}
	}
}

// schemaTypes maps the document's schemas to the Go types the handlers decode and
// encode.
var schemaTypes = map[string]any{
	"CodeRequest": CodeRequest{}, "LoginRequest": LoginRequest{}, "LoginReply": LoginReply{},
	"ScanRequest": ScanRequest{}, "SessionRequest": SessionRequest{}, "SlotsReply": SlotsReply{},
	"IdentityReply": IdentityReply{}, "DriverStatus": DriverStatus{}, "AnnounceRequest": AnnounceRequest{},
	"Announcement": Announcement{}, "AnnounceReply": AnnounceReply{}, "CourierRequest": CourierRequest{},
	"ResolveRequest": ResolveRequest{}, "ErrorReply": ErrorReply{}, "Empty": struct{}{},
	"Pickup": locker.Pickup{}, "Slot": locker.Slot{}, "Status": locker.Status{},
	"CompartmentView": locker.CompartmentView{}, "Rights": locker.Rights{},
}

// notSent are Go fields a handler never puts in an answer, with the reason.
var notSent = map[string][]string{
	// Station.Inventory clears them: sealed, but stable and linkable.
	"CompartmentView": {"op_waybill", "unverified_waybill"},
}

// operationTypes maps each operation to its request type and its 200 answer's type
// (the items' type for an array).
var operationTypes = map[route][2]string{
	{"POST", PathPickup}:   {"CodeRequest", "Pickup"},
	{"POST", PathLogin}:    {"LoginRequest", "LoginReply"},
	{"POST", PathScan}:     {"ScanRequest", "Slot"},
	{"POST", PathCancel}:   {"SessionRequest", "Empty"},
	{"POST", PathRetrieve}: {"SessionRequest", "SlotsReply"},
	{"POST", PathLogout}:   {"SessionRequest", "Empty"},
	{"POST", PathHandover}: {"ScanRequest", "Slot"},
	{"GET", PathStatus}:    {"", "Status"},
	{"GET", PathInv}:       {"", "CompartmentView"},
	{"GET", PathIdentity}:  {"", "IdentityReply"},
	{"GET", PathDrivers}:   {"", "DriverStatus"},
	{"POST", PathAnnounce}: {"AnnounceRequest", "AnnounceReply"},
	{"POST", PathCourier}:  {"CourierRequest", "Empty"},
	{"POST", PathResolve}:  {"ResolveRequest", "Empty"},
}

// jsonFields returns the sorted JSON member names of a struct, embedded structs'
// included, and the ones always present (no omitempty or omitzero).
func jsonFields(t reflect.Type) (all, required []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" {
			a, r := jsonFields(f.Type)
			all, required = append(all, a...), append(required, r...)
			continue
		}
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	slices.Sort(all)
	slices.Sort(required)
	return all, required
}

// refName is the component a schema refers to: itself, the first of an allOf, or
// an array's items.
func refName(s *openapi3.SchemaRef) string {
	switch {
	case s == nil:
		return ""
	case s.Ref != "":
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	case s.Value != nil && len(s.Value.AllOf) > 0:
		return refName(s.Value.AllOf[0])
	case s.Value != nil && s.Value.Items != nil:
		return refName(s.Value.Items)
	}
	return ""
}

// TestOpenAPISchemasAreTheGoTypes: every schema of a Go type has exactly its JSON
// members, the always-present ones required; each operation's request and 200
// answer are those of the handler's types.
func TestOpenAPISchemasAreTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	for name, v := range schemaTypes {
		t.Run(name, func(t *testing.T) {
			ref := doc.Components.Schemas[name]
			if ref == nil || ref.Value == nil {
				t.Fatalf("the document has no schema %s", name)
			}
			all, required := jsonFields(reflect.TypeOf(v))
			skip := notSent[name]
			all = slices.DeleteFunc(all, func(s string) bool { return slices.Contains(skip, s) })
			required = slices.DeleteFunc(required, func(s string) bool { return slices.Contains(skip, s) })
			var props []string
			for p := range ref.Value.Properties {
				props = append(props, p)
			}
			slices.Sort(props)
			if !slices.Equal(props, all) {
				t.Errorf("members: document %v\n         Go       %v", props, all)
			}
			req := slices.Sorted(slices.Values(ref.Value.Required))
			if !slices.Equal(req, required) {
				t.Errorf("required: document %v\n          Go       %v", req, required)
			}
			if ap := ref.Value.AdditionalProperties.Has; ap == nil || *ap {
				t.Errorf("additionalProperties is not false: the decoder refuses unknown members and the encoder sends none")
			}
		})
	}
	for r, types := range operationTypes {
		op := doc.Paths.Find(r.path).GetOperation(r.method)
		if op == nil {
			t.Errorf("%s: not in the document", r)
			continue
		}
		var reqName string
		if op.RequestBody != nil {
			reqName = refName(op.RequestBody.Value.Content.Get("application/json").Schema)
		}
		if reqName != types[0] {
			t.Errorf("%s: request schema %q, the handler decodes %q", r, reqName, types[0])
		}
		ok := op.Responses.Status(200)
		if ok == nil || refName(ok.Value.Content.Get("application/json").Schema) != types[1] {
			t.Errorf("%s: the 200 answer is not the schema %s", r, types[1])
		}
	}
}

// TestOpenAPIReasonsAreTheServers: the Reason enumeration is every reason the
// server gives, and each ErrorNNN schema lists exactly the reasons given with status
// NNN.
func TestOpenAPIReasonsAreTheServers(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	byStatus := map[int][]string{http.StatusInternalServerError: {"internal"}}
	all := []string{"internal"}
	for _, r := range reasons {
		byStatus[r.status] = append(byStatus[r.status], r.reason)
		all = append(all, r.reason)
	}
	enumOf := func(s *openapi3.Schema) []string {
		var out []string
		for _, v := range s.Enum {
			out = append(out, v.(string))
		}
		return dedupSorted(out)
	}
	if got := enumOf(doc.Components.Schemas["Reason"].Value); !slices.Equal(got, dedupSorted(all)) {
		t.Errorf("Reason: document %v\n        server   %v", got, dedupSorted(all))
	}
	for name := range doc.Components.Schemas {
		n, ok := strings.CutPrefix(name, "Error")
		status, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		if _, ok := byStatus[status]; !ok {
			t.Errorf("%s: the server gives no reason with status %d", name, status)
		}
	}
	for status, want := range byStatus {
		ref := doc.Components.Schemas[fmt.Sprintf("Error%d", status)]
		if ref == nil {
			t.Errorf("no schema Error%d for the reasons %v", status, want)
			continue
		}
		if got := enumOf(ref.Value.Properties["reason"].Value); !slices.Equal(got, dedupSorted(want)) {
			t.Errorf("Error%d: document %v\n         server   %v", status, got, dedupSorted(want))
		}
	}
}

func dedupSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// exchange is one request of the document and the answer it documents.
type exchange struct {
	name   string // operation or component, status and example name
	op     *openapi3.Operation
	method string
	path   string
	body   []byte // nil: no body
	given  []string
	status int
	want   *openapi3.Example   // the answer's example
	schema *openapi3.SchemaRef // the answer's schema
}

// exchangesOf pairs every example of doc into exchanges, and fails for an example
// that belongs to none, a response without an example and a request body without
// one.
func exchangesOf(t *testing.T, doc *openapi3.T) []exchange {
	t.Helper()
	var out []exchange
	components := map[*openapi3.Response]string{}
	for name, r := range doc.Components.Responses {
		components[r.Value] = name
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var requests map[string]*openapi3.ExampleRef
			if op.RequestBody != nil {
				requests = op.RequestBody.Value.Content.Get("application/json").Examples
				if len(requests) == 0 {
					t.Errorf("%s %s: the request body has no example", method, path)
				}
			}
			paired := map[string]bool{}
			for code, rref := range op.Responses.Map() {
				status, _ := strconv.Atoi(code)
				if _, ok := components[rref.Value]; ok || rref.Ref != "" {
					continue // a component's examples run below
				}
				mt := rref.Value.Content.Get("application/json")
				if mt == nil || len(mt.Examples) == 0 {
					t.Errorf("%s %s %s: no example", method, path, code)
					continue
				}
				for name, ex := range mt.Examples {
					x := exchange{name: fmt.Sprintf("%s %s %s %s", method, path, code, name), op: op, method: method, path: path,
						status: status, want: ex.Value, schema: mt.Schema, given: stringsOf(ex.Value.Extensions["x-given"])}
					if req, ok := requests[name]; ok {
						if _, dup := paired[name]; dup {
							t.Errorf("%s %s: two answers named %s", method, path, name)
						}
						paired[name] = true
						x.given = stringsOf(req.Value.Extensions["x-given"])
						x.body, _ = json.Marshal(req.Value.Value)
					} else if xr, ok := ex.Value.Extensions["x-request"]; ok {
						x.body = requestBody(t, x.name, xr)
					} else if op.RequestBody != nil {
						t.Errorf("%s: neither a request example of its name nor x-request", x.name)
						continue
					}
					out = append(out, x)
				}
			}
			for name := range requests {
				if !paired[name] {
					t.Errorf("%s %s: the request example %s has no answer of its name", method, path, name)
				}
			}
		}
	}
	for cname, rref := range doc.Components.Responses {
		mt := rref.Value.Content.Get("application/json")
		if mt == nil || len(mt.Examples) == 0 {
			t.Errorf("component %s: no example", cname)
			continue
		}
		for name, ex := range mt.Examples {
			xr, _ := ex.Value.Extensions["x-request"].(map[string]any)
			method, _ := xr["method"].(string)
			path, _ := xr["path"].(string)
			if method == "" || path == "" {
				t.Errorf("component %s example %s: x-request needs method and path", cname, name)
				continue
			}
			status := 0
			for code, r := range allResponses(doc) {
				if r == rref.Value {
					status = code
				}
			}
			x := exchange{name: fmt.Sprintf("component %s %s", cname, name), method: method, path: path,
				body: requestBody(t, cname, xr), given: stringsOf(ex.Value.Extensions["x-given"]),
				status: status, want: ex.Value, schema: mt.Schema}
			if item := doc.Paths.Find(path); item != nil {
				x.op = item.GetOperation(method)
			}
			if x.status == 0 {
				x.status = componentStatus[cname]
			}
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// componentStatus gives the status of component responses no operation refers to.
var componentStatus = map[string]int{"NotFound": 404, "MethodNotAllowed": 405}

// allResponses maps the statuses under which operations refer to component
// responses.
func allResponses(doc *openapi3.T) map[int]*openapi3.Response {
	out := map[int]*openapi3.Response{}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for code, r := range op.Responses.Map() {
				if r.Ref != "" {
					status, _ := strconv.Atoi(code)
					out[status] = r.Value
				}
			}
		}
	}
	return out
}

func stringsOf(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			out = append(out, fmt.Sprint(s))
		}
	}
	return out
}

// requestBody builds the body an x-request describes: body (JSON), raw (bytes as
// they are) or oversize (a JSON body of that many bytes).
func requestBody(t *testing.T, where string, xr any) []byte {
	t.Helper()
	m, ok := xr.(map[string]any)
	if !ok {
		t.Fatalf("%s: x-request is not an object", where)
	}
	switch {
	case m["body"] != nil:
		b, err := json.Marshal(m["body"])
		if err != nil {
			t.Fatal(err)
		}
		return b
	case m["raw"] != nil:
		return []byte(m["raw"].(string))
	case m["oversize"] != nil:
		n := int(m["oversize"].(float64))
		return []byte(`{"qr":"` + strings.Repeat("x", n-len(`{"qr":""}`)) + `"}`)
	}
	return nil
}

// The example data of the document: what the x-given states are built from.
const (
	exBadge    = "EXAMPLE-BADGE-TOKEN-NOT-A-REAL-ONE"
	exPIN      = "1234"
	exCode     = "12345678"
	exPhone    = "1234"
	exQR       = "EXAMPLEQRSECRETAAAAAAAAAAA"
	exTracking = "EXAMPLE000001"
	exParcel   = "p-example-1"
)

// switchDoors is a lock driver whose unlocks start failing when told to.
type switchDoors struct{ fail atomic.Bool }

func (d *switchDoors) Unlock(context.Context, locker.CompartmentID) error {
	if d.fail.Load() {
		return fmt.Errorf("example: lock does not answer")
	}
	return nil
}

// staged is a fixture in an x-given state, and the ids the station issued there.
type staged struct {
	f                 *apiFixture
	session, handover string
}

// stage builds a fixture in the state that given names: a door (1, M) and a shelf
// (2, S1, S, four places); each step in order.
func stage(t *testing.T, given []string) *staged {
	t.Helper()
	ctx := context.Background()
	doorsDrv := &switchDoors{}
	cfg := fixtureConfig{admin: true, unlocker: doorsDrv, specs: []locker.CompartmentSpec{
		{ID: 1, Label: "1", Size: locker.SizeM, Kind: locker.KindDoor},
		{ID: 2, Label: "S1", Size: locker.SizeS, Kind: locker.KindShelf, Capacity: 4}}}
	// As firmware/run.go does; the drivers are the document's example.
	opts := []func(*Server){func(s *Server) {
		since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		s.ServeDrivers(func() []DriverStatus {
			return []DriverStatus{{Name: "board-1", Kind: "lockboard", Load: "loaded", OK: true, Since: since},
				{Name: "scanner", Kind: "scanner", Load: "failed", Reason: "scanner: open /dev/ttyEXAMPLE0: no such file or directory", Since: since}}
		})
	}}
	s := &staged{}
	var pre []string // steps on the station before the server starts
	var post []string
	for _, g := range given {
		switch g {
		case "admin-off":
			cfg.admin = false
		case "no-legacy":
			cfg.policy = func(p *locker.Policy) { p.LegacyCodes = false }
		case "panel-caller":
			me := uint32(os.Geteuid())
			opts = append(opts, func(s *Server) { s.PanelUIDs([]uint32{me}) })
		case "unverified":
			cfg.reopen = true
			pre = append(pre, g)
		case "closed", "input-busy", "legacy-locked":
			post = append(post, g)
		case "courier", "courier-deposit-only", "courier-retrieve-only", "session", "announced", "deposited-door", "deposited-shelf",
			"recalled", "handover", "failing-doors", "courier-locked":
			pre = append(pre, g)
		default:
			t.Fatalf("x-given %q: a state this test does not know", g)
		}
	}
	announce := func(st *locker.Station, cloud *privacy.Keys, size locker.Size) {
		a := locker.Announcement{ID: exParcel, Waybill: cloud.Waybill(exTracking), Size: size, Hint: "…0001",
			Verifiers: locker.Verifiers{Code: cloud.CodeVerifier2(exCode, exPhone), QR: cloud.QRVerifier(exQR)}}
		if res, err := st.Announce(ctx, []locker.Announcement{a}); err != nil || res[0] != nil {
			t.Fatalf("announce: %v %v", err, res)
		}
	}
	rights := locker.Rights{Deposit: true, Retrieve: true}
	haveCourier := false
	courier := func(st *locker.Station, cloud *privacy.Keys) {
		if !haveCourier {
			haveCourier = true
			if err := st.UpsertCourier(ctx, locker.Courier{ID: "courier-example-1", Badge: cloud.Badge(exBadge),
				Verifier: cloud.Courier(exBadge, exPIN), Rights: rights}); err != nil {
				t.Fatal(err)
			}
		}
	}
	session := func(st *locker.Station, cloud *privacy.Keys) {
		courier(st, cloud)
		if s.session == "" {
			sid, err := st.Login(ctx, exBadge, exPIN)
			if err != nil {
				t.Fatal(err)
			}
			s.session = sid
		}
	}
	deposit := func(st *locker.Station, cloud *privacy.Keys, size locker.Size) locker.Slot {
		announce(st, cloud, size)
		session(st, cloud)
		slot, err := st.Scan(ctx, s.session, exTracking, locker.SizeUnknown)
		if err != nil {
			t.Fatalf("deposit: %v", err)
		}
		return slot
	}
	cfg.prepare = func(st *locker.Station, cloud *privacy.Keys) {
		for _, g := range pre {
			switch g {
			case "courier":
				courier(st, cloud)
			case "courier-deposit-only":
				rights.Retrieve = false
				courier(st, cloud)
			case "courier-retrieve-only":
				rights.Deposit = false
				courier(st, cloud)
			case "session":
				session(st, cloud)
			case "announced":
				announce(st, cloud, locker.SizeM)
			case "deposited-door", "recalled":
				slot := deposit(st, cloud, locker.SizeM)
				if slot.Kind != locker.KindDoor {
					t.Fatalf("deposited-door: the parcel went to %+v", slot)
				}
				st.DoorChanged(slot.Compartment, true)
				st.DoorChanged(slot.Compartment, false)
				if g == "recalled" {
					if err := st.Recall(ctx, exParcel, "example"); err != nil {
						t.Fatal(err)
					}
				}
			case "deposited-shelf", "handover":
				if slot := deposit(st, cloud, locker.SizeS); slot.Kind != locker.KindShelf {
					t.Fatalf("deposited-shelf: the parcel went to %+v", slot)
				}
				if g == "handover" {
					p, err := st.EnterCode(ctx, exCode, exPhone)
					if err != nil || p.Handover == "" {
						t.Fatalf("handover: %+v %v", p, err)
					}
					s.handover = p.Handover
				}
			case "unverified":
				deposit(st, cloud, locker.SizeM) // the door is never seen open; then a restart
			case "failing-doors":
				doorsDrv.fail.Store(true)
			case "courier-locked":
				courier(st, cloud)
				for range st.Policy().CourierThrottle.MaxFailures {
					st.Login(ctx, exBadge, "9999")
				}
			}
		}
	}
	s.f = newAPIWith(t, cfg, opts...)
	for _, g := range post {
		switch g {
		case "closed":
			s.f.st.Close()
		case "legacy-locked": // max_failures (2) wrong scheme-1 codes, each after the gate's wait
			for range s.f.st.Policy().CodeThrottle.MaxFailures {
				if _, err := s.f.client.Pickup(ctx, "999999"); err == nil {
					t.Fatal("a wrong legacy code opened")
				}
			}
		case "input-busy": // one failure, so that the next entry waits; then one waiting
			s.f.client.PickupCode(ctx, "99999999", "9999")
			go s.f.client.PickupCode(ctx, "99999999", "9999")
			time.Sleep(500 * time.Millisecond)
		}
	}
	return s
}

// send makes x's request through the fixture's socket, with the ids the station
// issued in place of the example's.
func (s *staged) send(t *testing.T, x exchange) (*http.Request, *http.Response, []byte) {
	t.Helper()
	body := x.body
	if body != nil && (s.session != "" || s.handover != "") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if _, ok := m["session"]; ok && s.session != "" {
				m["session"] = s.session
			}
			if _, ok := m["handover"]; ok && s.handover != "" {
				m["handover"] = s.handover
			}
			body, _ = json.Marshal(m)
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(x.method, "http://lockerd"+x.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.f.client.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return req, resp, data
}

// checkExchange validates an answer against the document: the example's status,
// and the body against the schema of that status (for an operation, with
// kin-openapi's response validation through the document's router: status
// documented, content type, headers and body); an error answer also has the
// example's reason.
func checkExchange(t *testing.T, doc *openapi3.T, router routers.Router, x exchange, req *http.Request, resp *http.Response, data []byte) {
	t.Helper()
	if resp.StatusCode != x.status {
		t.Fatalf("status %d, the document says %d: %s", resp.StatusCode, x.status, data)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if x.op != nil {
		r, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("route: %v", err)
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: r},
			Status:                 resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(data)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Fatalf("the answer does not validate against the document: %v\n%s", err, data)
		}
	} else {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("not JSON: %s", data)
		}
		if err := x.schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Fatalf("the answer does not validate against the document: %v\n%s", err, data)
		}
	}
	if x.status >= 300 {
		var got ErrorReply
		json.Unmarshal(data, &got)
		want, _ := x.want.Value.(map[string]any)
		if got.Reason != want["reason"] {
			t.Fatalf("reason %q, the document's example says %v: %s", got.Reason, want["reason"], data)
		}
	}
}

// TestOpenAPIExamplesAgainstTheServer sends every example of the document to a real
// control server on a real Unix socket, backed by a real station in the state the
// example names, and validates each answer against the document.
func TestOpenAPIExamplesAgainstTheServer(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	xs := exchangesOf(t, doc)
	if len(xs) < 40 {
		t.Fatalf("only %d exchanges in the document", len(xs))
	}
	for _, x := range xs {
		t.Run(x.name, func(t *testing.T) {
			t.Parallel()
			s := stage(t, x.given)
			req, resp, data := s.send(t, x)
			checkExchange(t, doc, router, x, req, resp, data)
		})
	}
}

// privacyCanaries are the privacy tests' canary values (firmware/canary_surfaces_test.go
// newCanaries, locker/station_test.go): real-looking personal data that must never be
// written anywhere, a document included.
var privacyCanaries = map[string]string{
	"tracking #0": "RB987654326GB", "tracking #1": "773019284756102", "tracking #2": "CANARYX5550123",
	"tracking #3": "RA000000005DE", "code #0": "73914682", "code #1": "55281937", "code #2": "90817263",
	"qr #0": "CANARYQRSECRETFORPARCELTWO", "qr #1": "CANARYQRSECRETNEVERISSUEDX", "pin #0": "86420975",
	"pin #1": "13579024", "badge #0": "CANARY-BADGE-7F3A-Q2XWZ5LMNOP", "badge #1": "QR:CANARY-TOKEN-0042-UNKNOWN-XY",
	"badge #2": "CANARY-BADGE-7F3A-ABCDEFGHIJKLMNOPQR",
}

// personal are the members whose values are personal data or secrets.
var personal = map[string]bool{"code": true, "phone": true, "qr": true, "badge": true, "pin": true, "scan": true}

// TestOpenAPIExamplesAreFake scans every example of the document with
// internal/canary for the privacy tests' canary values, and checks that every
// personal member of an example is fake on its face: EXAMPLE in tokens, secrets and
// tracking numbers; a run of digits (1234..., or one digit repeated) in codes, PINs
// and phone digits.
func TestOpenAPIExamplesAreFake(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	var rec canary.Record
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && personal[k] && !obviouslyFake(s) {
					t.Errorf("%s: %s %q does not look fake", where, k, s)
				}
				walk(where, e)
			}
		case []any:
			for _, e := range v {
				walk(where, e)
			}
		}
	}
	add := func(where string, ex *openapi3.Example) {
		raw, _ := json.Marshal(map[string]any{"value": ex.Value, "x": ex.Extensions})
		rec.Add(where, raw)
		walk(where, ex.Value)
		walk(where, ex.Extensions["x-request"])
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil {
				for name, ex := range op.RequestBody.Value.Content.Get("application/json").Examples {
					add(method+" "+path+" request "+name, ex.Value)
				}
			}
			for code, r := range op.Responses.Map() {
				if mt := r.Value.Content.Get("application/json"); mt != nil {
					for name, ex := range mt.Examples {
						add(method+" "+path+" "+code+" "+name, ex.Value)
					}
				}
			}
		}
	}
	h, err := canary.New(privacyCanaries)
	if err != nil {
		t.Fatal(err)
	}
	surface := rec.Surface("docs/control-api.yaml examples", canary.KindAPI)
	surface.Expect = []string{exBadge, exTracking} // the scan saw the examples
	surface.MinItems = 40
	if err := h.Register(surface); err != nil {
		t.Fatal(err)
	}
	h.Check(t)
}

// obviouslyFake: EXAMPLE somewhere, or only digits that run up from 1 (1234...) or
// repeat one digit, or a string of white space and such digits (a code as typed).
func obviouslyFake(s string) bool {
	if strings.Contains(strings.ToUpper(s), "EXAMPLE") {
		return true
	}
	d := strings.TrimSpace(s)
	if d == "" {
		return true
	}
	run, same := true, true
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
		run = run && d[i] == byte('0'+(i+1)%10)
		same = same && d[i] == d[0]
	}
	return run || same
}

// TestControlAPIMDAgrees holds docs/control-api.md, the prose, to the document and
// the server: it names every path of the document and no other, and its table's
// panel row lists exactly the paths a panel caller may call.
func TestControlAPIMDAgrees(t *testing.T) {
	doc := loadOpenAPI(t, controlAPIDoc)
	raw, err := os.ReadFile("../../docs/control-api.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	pathRE := regexp.MustCompile("/v1/[a-z/]*[a-z]")
	var docPaths, panel []string
	for p := range doc.Paths.Map() {
		docPaths = append(docPaths, p)
	}
	for p := range panelPaths {
		panel = append(panel, p)
	}
	// "/v1/admin/*" stands for the admin paths, which are named elsewhere.
	named := slices.DeleteFunc(dedupSorted(pathRE.FindAllString(md, -1)), func(s string) bool { return s == "/v1/admin" })
	if got, want := named, dedupSorted(docPaths); !slices.Equal(got, want) {
		t.Errorf("control-api.md names %v\ncontrol-api.yaml has %v", got, want)
	}
	var row string
	for line := range strings.Lines(md) {
		if strings.HasPrefix(line, "| ") && strings.Contains(line, "| panel |") {
			row = line
		}
	}
	if got, want := dedupSorted(pathRE.FindAllString(row, -1)), dedupSorted(panel); !slices.Equal(got, want) {
		t.Errorf("control-api.md's panel row lists %v\nthe server gives panel callers %v", got, want)
	}
}
