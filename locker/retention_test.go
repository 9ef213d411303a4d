package locker

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lockerd/lockerd/locker/audit"
	"github.com/lockerd/lockerd/locker/privacy"
)

// TestAuditRetention: entries older than AuditKeep are pruned at the hourly pass, the
// rest still verifies (after a restart too) from the sealed checkpoint, the pruning is
// itself audited, and removing the checkpoint or more entries is detected.
func TestAuditRetention(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	p := f.st.Policy()
	p.Version, p.AuditKeep = 1, 48*time.Hour
	if err := f.st.SetPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	old, err := f.st.VerifyAudit()
	if err != nil {
		t.Fatal(err)
	}
	f.tick(24 * time.Hour)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	st, err := f.st.Status()
	if err != nil {
		t.Fatal(err)
	}
	recent := st.AuditSeq
	// A clock leaping ahead prunes nothing by itself: age is judged against the newest
	// entry too.
	f.tick(25 * time.Hour) // the first entries are now 49h old, p-2's 25h
	if n := f.countEvents(EvAuditPruned); n != 0 {
		t.Fatalf("%d audit_pruned events with no entry written since", n)
	}
	f.announce("p-9", "RB000000013GB", "", SizeS) // written at the new time
	f.tick(time.Hour)
	if n := f.countEvents(EvAuditPruned); n != 1 {
		t.Fatalf("%d audit_pruned events", n)
	}
	evs, err := f.st.AuditRange(1, recent, 1000)
	if err != nil || len(evs) == 0 || evs[0].Seq <= uint64(old) || evs[0].Seq > recent {
		t.Fatalf("oldest entry left: %+v %v (the first %d were older than 48h)", evs[:min(len(evs), 1)], err, old)
	}
	for _, e := range evs {
		if e.At.Before(f.clock.Now().Add(-p.AuditKeep)) {
			t.Fatalf("entry %d from %v kept past the retention", e.Seq, e.At)
		}
	}
	n, err := f.st.VerifyAudit()
	if err != nil || n == 0 {
		t.Fatalf("pruned chain: %d %v", n, err)
	}
	f.restart()
	if got := f.st.Policy().AuditKeep; got != DefaultPolicy().AuditKeep {
		t.Fatalf("audit_keep %v after a restart, want the configuration's %v (the cloud's policy does not set it)", got, DefaultPolicy().AuditKeep)
	}
	f.announce("p-3", "RA000000005DE", "", SizeS) // the chain goes on after a restart
	if _, err := f.st.VerifyAudit(); err != nil {
		t.Fatalf("after a restart: %v", err)
	}

	for name, tamper := range map[string]func(tx *bolt.Tx) error{
		"checkpoint removed": func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaAuditCheckpoint) },
		"front cut further": func(tx *bolt.Tx) error {
			k, _ := tx.Bucket(bucketAudit).Cursor().First()
			return tx.Bucket(bucketAudit).Delete(k)
		},
	} {
		t.Run(name, func(t *testing.T) {
			var saved []byte
			var first []byte
			var firstV []byte
			if err := f.st.db().View(func(tx *bolt.Tx) error {
				saved = append([]byte(nil), tx.Bucket(bucketMeta).Get(metaAuditCheckpoint)...)
				k, v := tx.Bucket(bucketAudit).Cursor().First()
				first, firstV = append([]byte(nil), k...), append([]byte(nil), v...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := f.st.db().Update(tamper); err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.VerifyAudit(); !errors.Is(err, audit.ErrBroken) {
				t.Fatalf("verify = %v, want ErrBroken", err)
			}
			if err := f.st.db().Update(func(tx *bolt.Tx) error { // undo for the next case
				if err := tx.Bucket(bucketMeta).Put(metaAuditCheckpoint, saved); err != nil {
					return err
				}
				return tx.Bucket(bucketAudit).Put(first, firstV)
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A wiped log with its checkpoint left does not verify as an empty one.
	if err := f.st.db().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		for k, _ := b.Cursor().First(); k != nil; k, _ = b.Cursor().First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.VerifyAudit(); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("wiped log: %v, want ErrBroken", err)
	}
}

// TestIdleTicksDoNotWrite: an announcement past its keep-until whose deposit a restart
// left unverified is not due (its door decides), so the timers do not commit, and
// fsync, on every tick until someone resolves the compartment.
func TestIdleTicksDoNotWrite(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	if _, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown); err != nil {
		t.Fatal(err)
	}
	f.restart() // the door was never seen: the deposit is unverified
	f.tick(15 * 24 * time.Hour)
	txid := func() int {
		var id int
		f.st.db().View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	for range 10 {
		f.tick(time.Second)
	}
	if n := txid() - before; n != 0 {
		t.Fatalf("10 idle ticks made %d write transactions, want 0", n)
	}
	if p := f.parcel("p-1"); p.State != StateAnnounced || p.Compartment == 0 {
		t.Fatalf("the unverified deposit was touched: %s in %d", p.State, p.Compartment)
	}
}

// TestEpochLengthIsFixedPerStore: a store opened with another epoch_length than it
// was created with is refused with a clear error (the old length numbers its keys:
// under a new one they would outlive every purge); set back, it opens.
func TestEpochLengthIsFixedPerStore(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	created := f.opt.Policy.EpochLength
	f.announce("p-1", "100000000001", "11111111", SizeS)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.opt.Keyring.Close()
	f.opt.Policy.EpochLength = created * 7 // an operator edits the configuration
	kr, err := privacy.OpenKeyring(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	f.opt.Keyring = kr
	_, err = Open(f.opt)
	if err == nil || !strings.Contains(err.Error(), "epoch_length") || !strings.Contains(err.Error(), created.String()) {
		t.Fatalf("Open with epoch_length %s over a store made with %s: %v; want a refusal naming both", f.opt.Policy.EpochLength, created, err)
	}
	kr.Close()
	f.opt.Policy.EpochLength = created
	f.open()
	if p := f.parcel("p-1"); p.State != StateAnnounced {
		t.Fatalf("parcel after reopening: %s", p.State)
	}
}

// TestDamagedRecordDoesNotStopTimers: a parcel record that no longer decodes (a
// damaged store) costs its timer row, not every timer pass: the other parcels still
// expire, and Tick keeps succeeding (the systemd watchdog is fed by it).
func TestDamagedRecordDoesNotStopTimers(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	f.deposit(sid, "RB123456785GB")
	f.clock.Advance(2 * time.Second)
	f.deposit(sid, "100000000002")
	if err := f.st.db().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketParcels).Put([]byte("p-1"), []byte{0xff, 0x00, 0x13})
	}); err != nil {
		t.Fatal(err)
	}
	f.tick(f.st.Policy().Retention + time.Minute) // fails the test if Tick errs
	f.tick(time.Second)
	if p := f.parcel("p-2"); p.State != StateExpired {
		t.Fatalf("the readable parcel is %s, want expired", p.State)
	}
	if !strings.Contains(f.logs.String(), "unreadable parcel record") {
		t.Fatal("the damaged record is not logged")
	}
}

// TestLegacyKeepRowsGo: a keep-until row a store written by an older build holds for a
// deposit under way is deleted when the deposit completes, and a leftover row naming a
// parcel no longer announced is dropped by the timers (found by a review).
func TestLegacyKeepRowsGo(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	f.announce("p-1", "RB123456785GB", "48213377", SizeS)
	f.announce("p-2", "100000000002", "11112222", SizeS)
	sid := f.courier("c-1", "BADGE-1-ABCDEFGHIJKLMNOPQR", "2468", Rights{Deposit: true})
	slot, err := f.st.Scan(ctx, sid, "RB123456785GB", SizeUnknown)
	if err != nil {
		t.Fatal(err)
	}
	keepRows := func() int {
		n := 0
		f.st.db().View(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketIdxKeep).ForEach(func(k, _ []byte) error { n++; return nil })
		})
		return n
	}
	p := f.parcel("p-1")
	if err := f.st.db().Update(func(tx *bolt.Tx) error { // as an older build left it
		return tx.Bucket(bucketIdxKeep).Put(timeKey(p.KeepUntil, p.ID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	f.door(slot.Compartment, true)
	f.door(slot.Compartment, false)
	if got := f.parcel("p-1"); got.State != StateDeposited {
		t.Fatalf("deposit: %s", got.State)
	}
	if n := keepRows(); n != 1 { // p-2's only
		t.Fatalf("%d keep-until rows after the deposit, want 1", n)
	}
	f.clock.Advance(2 * time.Second)
	f.deposit(sid, "100000000002")
	q := f.parcel("p-2")
	if err := f.st.db().Update(func(tx *bolt.Tx) error { // a leftover for a parcel deposited since
		return tx.Bucket(bucketIdxKeep).Put(timeKey(f.clock.Now(), q.ID), nil)
	}); err != nil {
		t.Fatal(err)
	}
	f.tick(time.Second)
	if n := keepRows(); n != 0 {
		t.Fatalf("%d keep-until rows after a timer pass, want 0", n)
	}
	if got := f.parcel("p-2"); got.State != StateDeposited {
		t.Fatalf("the leftover row touched the parcel: %s", got.State)
	}
}
