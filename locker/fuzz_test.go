package locker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/eventlog"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store/boltstore"
)

// A fuzz target for the decoding of the outbox's events (the store's own decoders are
// fuzzed in locker/store/boltstore). The store is on the device's flash, which a power
// cut, a worn card or a person with the card in hand can leave in any state: its
// decoders must refuse what the station never wrote rather than act on it.

// outboxEntries returns the sealed outbox forms (audit trailers, ADR 0060) of a
// station that took in two parcels the cloud had not announced (their deposited
// events carry the waybill digest, which the audit log does not keep) and recorded a
// health report.
func outboxEntries(t testing.TB, fx *fixture) (keys, values [][]byte) {
	t.Helper()
	sid := fx.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	for i, tn := range []string{"773012345678901", "773012345678902"} {
		fx.clock.Advance(2 * time.Second)
		slot, err := fx.st.Scan(ctx, sid, tn, SizeM)
		if err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
		fx.openClose(slot.Compartment)
	}
	if err := fx.st.Record(EvHealth, "system", []byte(`{"uptime_s":5,"drivers":{"cu16-1":"ok"}}`)); err != nil {
		t.Fatal(err)
	}
	err := fx.st.db().View(func(tx *bolt.Tx) error {
		audit.RangeTrailers(tx.Bucket(bucketAudit), 0, ^uint64(0), func(seq uint64, _, trailer []byte) bool {
			if len(trailer) > 0 {
				keys, values = append(keys, audit.Key(seq)), append(values, bytes.Clone(trailer))
			}
			return true
		})
		return nil
	})
	if err != nil || len(keys) < 2 {
		t.Fatalf("outbox: %d entries, %v", len(keys), err)
	}
	return keys, values
}

// FuzzOpenOutbox decodes arbitrary outbox entries. With sealed false the input is the
// stored key and value as the flash holds them: only an entry the station sealed under
// that very key opens, and then its event carries that key's sequence number. With
// sealed true the input is the plaintext, sealed with the station's current epoch key,
// which explores the JSON decoding behind the seal: an event that decodes, written out
// and sealed again, decodes to the same event. Every refusal names the entry and
// carries the package prefix.
func FuzzOpenOutbox(f *testing.F) {
	fx := newFixture(f, mixedSpecs())
	keys, values := outboxEntries(f, fx)
	for i := range keys {
		f.Add(false, keys[i], values[i])
		tampered := bytes.Clone(values[i])
		tampered[len(tampered)-1] ^= 1
		f.Add(false, keys[i], tampered)
		f.Add(false, audit.Key(99), values[i])
	}
	f.Add(false, audit.Key(1), []byte{0, 0, 0})
	f.Add(false, audit.Key(1), []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add(true, audit.Key(1), []byte(`{"seq":1,"id":"e-1","type":"health","at":"2026-11-27T09:00:00Z","report":{"uptime_s":5}}`))
	f.Add(true, audit.Key(2), []byte(`{"seq":2,"type":"announced","waybill":"`+strings.Repeat("ab", 32)+`","count":1}`))
	f.Add(true, audit.Key(3), []byte(`{"seq":"3"}`))
	f.Add(true, audit.Key(4), []byte(`{"report":{"a":`))
	epoch := fx.st.epochOf(fx.clock.Now())
	key, err := fx.st.keyring.Key(epoch)
	if err != nil {
		f.Fatal(err)
	}
	seal := func(k, plain []byte) []byte {
		return append(epochKey(epoch), privacy.SealBytes(key, plain, k)...)
	}
	bs := fx.st.store.(*boltstore.Store)
	f.Fuzz(func(t *testing.T, sealed bool, k, data []byte) {
		v := data
		if sealed {
			v = seal(k, data)
		}
		e, err := openOutbox(bs, k, v)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "locker: outbox entry ") {
				t.Fatalf("openOutbox: %v lacks the package prefix", err)
			}
			if sealed && json.Unmarshal(data, new(Event)) == nil {
				t.Fatalf("openOutbox refused an entry sealed under the current key: %v", err)
			}
			return
		}
		if !sealed {
			if len(k) != 8 || e.Seq != binary.BigEndian.Uint64(k) {
				t.Fatalf("an entry stored under %x opened as event %d", k, e.Seq)
			}
			return
		}
		plain, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		e2, err := openOutbox(bs, k, seal(k, plain))
		if err != nil {
			t.Fatalf("the re-sealed event is refused: %v\n%s", err, plain)
		}
		plain2, _ := json.Marshal(e2)
		if !bytes.Equal(plain, plain2) || !e.At.Equal(e2.At) {
			t.Fatalf("an event changed in a round trip:\n%s\n%s", plain, plain2)
		}
	})
}

// openOutbox opens one stored outbox entry as the station's readers do.
func openOutbox(bs *boltstore.Store, k, v []byte) (e Event, err error) {
	err = bs.OpenOutbox(k, v, eventlog.Decode(&e))
	return e, err
}
