package control

import (
	"context"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/lockerd/lockerd/locker"
)

// TestAPIPanelCallerGetsThePanelOnly is issue 12's acceptance for the local surfaces: a
// caller with kiosk (panel) rights, here the test's own uid mapped by PanelUIDs, enters
// codes and runs a courier session through the real socket, and is refused announce,
// courier upsert, resolve and every other endpoint off the panel's list with 403
// "forbidden"; nothing it tried changed the station. The same calls from a caller with
// full rights (the test's uid unmapped: lockerd's own user) go through.
func TestAPIPanelCallerGetsThePanelOnly(t *testing.T) {
	ctx := context.Background()
	me := uint32(os.Geteuid())
	f := newAPI(t, true, func(s *Server) { s.PanelUIDs([]uint32{me}) })
	if err := f.st.UpsertCourier(ctx, locker.Courier{ID: "c", Badge: f.cloud.Badge(tokB), Verifier: f.cloud.Courier(tokB, "1357"), Rights: locker.Rights{Deposit: true}}); err != nil {
		t.Fatal(err)
	}

	// The panel's share works.
	if _, err := f.client.Status(ctx); err != nil {
		t.Fatalf("status: %v", err)
	}
	if _, err := f.client.PickupCode(ctx, "12345678", "4321"); !errors.Is(err, locker.ErrWrongCode) {
		t.Fatalf("code entry: %v, want wrong_code", err)
	}
	sid, err := f.client.Login(ctx, tokB, "1357")
	if err != nil {
		t.Fatalf("courier login: %v", err)
	}
	if _, err := f.client.Scan(ctx, sid, "RB123456785GB", "S"); err != nil {
		t.Fatalf("courier scan: %v", err)
	}
	if err := f.client.Cancel(ctx, sid); err != nil {
		t.Fatalf("courier cancel: %v", err)
	}
	if err := f.client.Logout(ctx, sid); err != nil {
		t.Fatalf("courier logout: %v", err)
	}

	before, _ := f.st.Status()
	refused := map[string]func() error{
		"announce": func() error {
			_, err := f.client.Announce(ctx, []Announcement{{ID: "p-1", Waybill: f.cloud.Waybill("RB123456785GB").Hex(), Size: "S"}})
			return err
		},
		"courier upsert": func() error {
			return f.client.UpsertCourier(ctx, CourierRequest{ID: "k", Badge: f.cloud.Badge(tokK).Hex(), Verifier: f.cloud.Courier(tokK, "2").Hex(), Rights: locker.Rights{Deposit: true, Retrieve: true}})
		},
		"resolve (opens nothing, settles a door)": func() error {
			return f.client.Resolve(ctx, ResolveRequest{Compartment: 1, Present: false, Operator: "kiosk"})
		},
		"inventory": func() error { _, err := f.client.Inventory(ctx); return err },
		"identity":  func() error { _, err := f.client.Identity(ctx); return err },
		"an unknown admin path": func() error {
			return f.client.call(ctx, "POST", "/v1/admin/open", struct{}{}, nil)
		},
	}
	for name, call := range refused {
		err := call()
		var e *Error
		if !errors.Is(err, ErrForbidden) || !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Reason != "forbidden" {
			t.Errorf("%s with panel rights: %#v, want 403 forbidden", name, err)
		}
	}
	after, _ := f.st.Status()
	if after.AuditSeq != before.AuditSeq {
		t.Fatalf("refused calls changed the station: audit %d -> %d", before.AuditSeq, after.AuditSeq)
	}

	// The other outcome: the same uid, not mapped to the panel, has full rights.
	full := newAPI(t, true)
	if _, err := full.client.Announce(ctx, []Announcement{{ID: "p-1", Waybill: full.cloud.Waybill("RB123456785GB").Hex(), Size: "S"}}); err != nil {
		t.Fatalf("announce with full rights: %v", err)
	}
	if err := full.client.UpsertCourier(ctx, CourierRequest{ID: "k", Badge: full.cloud.Badge(tokK).Hex(), Verifier: full.cloud.Courier(tokK, "2").Hex(), Rights: locker.Rights{Deposit: true}}); err != nil {
		t.Fatalf("courier upsert with full rights: %v", err)
	}
	if _, err := full.client.Inventory(ctx); err != nil {
		t.Fatalf("inventory with full rights: %v", err)
	}
}

// TestRightsOf pins the mapping: root and lockerd's own user get full rights unless
// listed in PanelUIDs; any other uid gets the panel's share.
func TestRightsOf(t *testing.T) {
	s := &Server{}
	me := uint32(os.Geteuid())
	other := me + 4242
	if me == 0 {
		other = 4242
	}
	for _, tc := range []struct {
		panel []uint32
		uid   uint32
		want  Rights
	}{
		{nil, 0, RightsFull},
		{nil, me, RightsFull},
		{nil, other, RightsPanel},
		{[]uint32{me}, me, RightsPanel},
		{[]uint32{0}, 0, RightsPanel},
		{[]uint32{other}, 0, RightsFull},
	} {
		s.PanelUIDs(tc.panel)
		if got := s.rightsOf(tc.uid); got != tc.want {
			t.Errorf("panel %v, uid %d: %v, want %v", tc.panel, tc.uid, got, tc.want)
		}
	}
}
