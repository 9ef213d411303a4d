package control

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/lockerd/lockerd/locker"
)

// TestCourierRequestFaultsAreBadRequests is the regression test of a bug the control
// API's document found: a courier upsert with an empty or over-long id, or an
// all-zero badge or verifier digest, reached the station, whose plain error the
// server answered 500 "internal", as if lockerd were broken. They are 400
// bad_request now, and nothing is stored.
func TestCourierRequestFaultsAreBadRequests(t *testing.T) {
	ctx := context.Background()
	f := newAPI(t, true)
	badge, verifier := f.cloud.Badge(tokB).Hex(), f.cloud.Courier(tokB, "1357").Hex()
	zero := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		req  CourierRequest
	}{
		{"no id", CourierRequest{Badge: badge, Verifier: verifier}},
		{"id of 65 bytes", CourierRequest{ID: strings.Repeat("c", 65), Badge: badge, Verifier: verifier}},
		{"zero badge", CourierRequest{ID: "c", Badge: zero, Verifier: verifier}},
		{"zero verifier", CourierRequest{ID: "c", Badge: badge, Verifier: zero}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Rights = locker.Rights{Deposit: true}
			err := f.client.UpsertCourier(ctx, tc.req)
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Reason != "bad_request" {
				t.Fatalf("%#v, want 400 bad_request", err)
			}
		})
	}
	if _, err := f.client.Login(ctx, tokB, "1357"); !errors.Is(err, locker.ErrBadCredentials) {
		t.Fatalf("a refused upsert stored a courier: login %v", err)
	}
	// The edge that is taken: an id of 64 bytes.
	if err := f.client.UpsertCourier(ctx, CourierRequest{ID: strings.Repeat("c", 64), Badge: badge, Verifier: verifier, Rights: locker.Rights{Deposit: true}}); err != nil {
		t.Fatalf("id of 64 bytes: %v", err)
	}
}
