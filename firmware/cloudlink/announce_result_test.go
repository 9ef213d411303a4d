package cloudlink

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// TestAnnounceResult pins the reply docs/protocol.md §3.4 states for an announce:
// every parcel the station applied or left alone (an id already deposited or ended:
// a late duplicate, locker.TestAnnounceOfAnExistingParcel) is answered by a plain
// done; the refused ones are listed in items with their reason, the reply being
// done/partial when some were applied and refused/partial when none were.
func TestAnnounceResult(t *testing.T) {
	body := &protocol.AnnounceBody{Parcels: []protocol.AnnouncedParcel{{Parcel: "p-1"}, {Parcel: "p-2"}}}
	conflict := fmt.Errorf("%w (p-2)", locker.ErrConflict)
	for _, tc := range []struct {
		name    string
		results []error
		status  protocol.Status
		reason  protocol.Reason
		items   []protocol.ItemResult
	}{
		{"all applied or left alone", []error{nil, nil}, protocol.StatusDone, "", nil},
		{"one waybill held by another id", []error{nil, conflict}, protocol.StatusDone, protocol.ReasonPartial,
			[]protocol.ItemResult{{Parcel: "p-2", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict}}},
		{"none applied", []error{conflict, conflict}, protocol.StatusRefused, protocol.ReasonPartial,
			[]protocol.ItemResult{{Parcel: "p-1", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict},
				{Parcel: "p-2", Status: protocol.StatusRefused, Reason: protocol.ReasonConflict}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := announceResult(body, tc.results)
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("reply %s/%s, want %s/%s", r.Status, r.Reason, tc.status, tc.reason)
			}
			var items []protocol.ItemResult
			if ar, ok := r.Body.(*protocol.AnnounceResult); ok {
				items = ar.Items
			} else if r.Body != nil {
				t.Fatalf("body %T", r.Body)
			}
			if !reflect.DeepEqual(items, tc.items) {
				t.Fatalf("items %+v, want %+v", items, tc.items)
			}
		})
	}
}
