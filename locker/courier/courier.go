// Package courier keeps courier credentials (docs/adr/0049-nothing-linkable-at-rest.md):
// the records the cloud sends, sealed so that nothing at rest links to a badge, and the
// check of a badge token and PIN against them.
//
// A record is found by the courier's badge digest sealed under an epoch key, and holds,
// sealed, the courier's id, badge digest, PIN verifier, rights and own login lock-out.
// The content's key combines the epoch key with a key of the courier's own, kept in the
// keyring at a slot (SlotBase and up): destroying that key (Book.Collect, after a
// revoke) makes the record, and any copy of it left in free pages or on flash,
// unreadable at once, not only deleted; the epoch key shreds what is left of the index
// row once the epoch goes. Records move to the current epoch before past epochs are
// shredded (Book.Reseal), so that a courier never holds an epoch key alive.
//
// The package has no state of its own: package locker holds the lock, opens the store
// transaction and audits each change; a Book works on the transaction's courier
// records and the station's keyring.
package courier

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lockerd/lockerd/locker/gate"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// Courier is a courier as the cloud sends it: keyed digests of the badge token and of
// token and PIN, never the token or PIN (docs/privacy.md §3).
type Courier struct {
	ID       string         `json:"id"`       // opaque, from the cloud
	Badge    privacy.Digest `json:"badge"`    // HMAC(courier-badge key, token): what the record is found by
	Verifier privacy.Digest `json:"verifier"` // HMAC(courier key, token, PIN): what the PIN is checked against
	Rights   Rights         `json:"rights"`
}

// Rights are what a courier credential allows.
type Rights struct {
	Deposit  bool `json:"deposit"`
	Retrieve bool `json:"retrieve"`
}

// Validate refuses a courier the station cannot file.
func (c Courier) Validate() error {
	if c.ID == "" || len(c.ID) > 64 || c.Badge.IsZero() || c.Verifier.IsZero() {
		return errors.New("locker: courier needs an id (1..64 bytes), a badge digest and a PIN verifier")
	}
	return nil
}

// SlotBase is the first keyring entry that holds a courier's key rather than an
// epoch's. Epoch numbers (unix seconds over an epoch length of at least an hour,
// policy.Validate) stay below 2^21 until the uint32 seconds end in 2106.
const SlotBase uint32 = 1 << 31

// MaxCouriers is the most couriers a station keeps: each holds a keyring entry, of
// privacy.MaxEpochs in all.
const MaxCouriers = 2048

// ErrLimit refuses a courier beyond MaxCouriers.
var ErrLimit = fmt.Errorf("locker: at most %d couriers per station", MaxCouriers)

// SlotEnd ends the couriers' slots: the keyring entries from there up hold the audit
// log's subject keys (locker/subject, docs/adr/0065-audit-actors-as-pseudonyms.md).
const SlotEnd uint32 = SlotBase + 1<<30

// IsSlot reports whether keyring entry e is a courier's key, not an epoch's (nor a
// subject's).
func IsSlot(e uint32) bool { return e >= SlotBase && e < SlotEnd }

// IsEpoch reports whether keyring entry e is an epoch's key: below every slot.
func IsEpoch(e uint32) bool { return e < SlotBase }

// Content is what a courier record holds, sealed.
type Content struct {
	ID       string         `json:"id"`
	Badge    privacy.Digest `json:"badge"` // to file the record under a later epoch
	Verifier privacy.Digest `json:"verifier"`
	Rights   Rights         `json:"rights"`
	Lockout  gate.Lockout   `json:"throttle,omitzero"` // this badge's failed logins
}

// Of is c's content with no failed login.
func Of(c Courier) Content {
	return Content{ID: c.ID, Badge: c.Badge, Verifier: c.Verifier, Rights: c.Rights}
}

// Courier is the credential c holds.
func (c Content) Courier() Courier {
	return Courier{ID: c.ID, Badge: c.Badge, Verifier: c.Verifier, Rights: c.Rights}
}

// CheckPIN reports whether badge token and pin are c's: their keyed digest is c's
// verifier, compared in constant time.
func (c Content) CheckPIN(keys privacy.KeyStore, badge, pin string) (bool, error) {
	v, err := privacy.CourierDigest(keys, badge, pin)
	if err != nil {
		return false, fmt.Errorf("locker: key store: %w", err)
	}
	return hmac.Equal(v[:], c.Verifier[:]), nil
}

// ErrFormat refuses a badge token or PIN of the wrong shape.
var ErrFormat = errors.New("courier: badge token or PIN of the wrong format")

// BadgeDigest returns the digest a login's record is found by. A token shorter than a
// badge token (privacy.CheckBadge), or a PIN that is not 4-12 digits
// (privacy.CheckPIN), is refused with ErrFormat before any lookup: it costs no guess.
func BadgeDigest(keys privacy.KeyStore, badge, pin string) (privacy.Digest, error) {
	if privacy.CheckBadge(badge) != nil || privacy.CheckPIN(pin) != nil {
		return privacy.Digest{}, ErrFormat
	}
	b, err := privacy.BadgeDigest(keys, badge)
	if err != nil {
		return privacy.Digest{}, fmt.Errorf("locker: key store: %w", err)
	}
	return b, nil
}

// Records is the part of a store transaction that holds courier records.
type Records interface {
	Courier(key privacy.Digest) (*store.CourierRecord, error)
	PutCourier(old, c *store.CourierRecord) error
	Couriers(fn func(c *store.CourierRecord) error) error
}

// Book seals, finds and shreds courier records with the keys of one keyring.
type Book struct{ Keyring *privacy.Keyring }

// ad binds sealed content to the row it is filed under.
func ad(key privacy.Digest) []byte { return append([]byte("lockerd/courier/v1/"), key[:]...) }

// key is the key a record of slot and epoch is sealed under: both must exist.
func (b Book) key(slot, epoch uint32) ([32]byte, bool) {
	ks, ok := b.Keyring.Lookup(slot)
	if !ok {
		return [32]byte{}, false
	}
	ke, ok := b.Keyring.Lookup(epoch)
	if !ok {
		return [32]byte{}, false
	}
	return [32]byte(privacy.Seal(ks, privacy.Digest(ke))), true
}

// Seal files content under epoch e (whose key exists) and slot.
func (b Book) Seal(e, slot uint32, c Content) (*store.CourierRecord, error) {
	ke, ok := b.Keyring.Lookup(e)
	key, ok2 := b.key(slot, e)
	if !ok || !ok2 {
		return nil, fmt.Errorf("locker: courier key %d or epoch key %d missing", slot-SlotBase, e)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	r := &store.CourierRecord{Key: privacy.Seal(ke, c.Badge), Epoch: e, Slot: slot}
	r.Sealed = privacy.SealBytes(key, plain, ad(r.Key))
	return r, nil
}

// Open returns a record's content; false when its keys are gone (a revoke that a
// crash interrupted) or it does not open.
func (b Book) Open(r *store.CourierRecord) (Content, bool) {
	var c Content
	key, ok := b.key(r.Slot, r.Epoch)
	if !ok {
		return c, false
	}
	plain, err := privacy.OpenBytes(key, r.Sealed, ad(r.Key))
	if err != nil || json.Unmarshal(plain, &c) != nil {
		return Content{}, false
	}
	return c, true
}

// Epochs returns the keyring's epochs, without the couriers' slots, ascending.
func (b Book) Epochs() []uint32 {
	var out []uint32
	for _, e := range b.Keyring.Epochs() {
		if IsEpoch(e) {
			out = append(out, e)
		}
	}
	return out
}

// Find returns the record filed under badge digest d in one of epochs, or nil.
func (b Book) Find(t Records, d privacy.Digest, epochs []uint32) (*store.CourierRecord, error) {
	for _, e := range epochs {
		k, ok := b.Keyring.Lookup(e)
		if !ok {
			continue
		}
		r, err := t.Courier(privacy.Seal(k, d))
		if err != nil || r != nil {
			return r, err
		}
	}
	return nil, nil
}

// Lookup finds the record of badge digest d in epochs (Find) and opens it (Open): the
// record, its content, and false when there is none or it does not open.
func (b Book) Lookup(t Records, d privacy.Digest, epochs []uint32) (*store.CourierRecord, Content, bool, error) {
	r, err := b.Find(t, d, epochs)
	if err != nil || r == nil {
		return r, Content{}, false, err
	}
	c, ok := b.Open(r)
	return r, c, ok, nil
}

// NewSlot creates the key of a new courier and returns its slot.
func (b Book) NewSlot() (uint32, error) {
	next, n := SlotBase, 0
	for _, e := range b.Keyring.Epochs() {
		if IsSlot(e) {
			next, n = max(next, e+1), n+1
		}
	}
	if n >= MaxCouriers {
		return 0, ErrLimit
	}
	if _, err := b.Keyring.Key(next); err != nil {
		return 0, fmt.Errorf("locker: courier key: %w", err)
	}
	return next, nil
}

// Collect destroys every courier key that no record in t names: the keys of revoked
// or replaced couriers, and of an upsert that did not commit. The station runs it after
// each change to the couriers and at start, so that a crash between a commit and its
// keys' destruction only delays the shredding.
func (b Book) Collect(t Records) error {
	used := map[uint32]bool{}
	if err := t.Couriers(func(r *store.CourierRecord) error {
		used[r.Slot] = true
		return nil
	}); err != nil {
		return err
	}
	for _, e := range b.Keyring.Epochs() {
		if IsSlot(e) && !used[e] {
			if err := b.Keyring.Destroy(e); err != nil {
				return fmt.Errorf("locker: destroy courier key: %w", err)
			}
		}
	}
	return nil
}

// Put files c under epoch e and slot, in place of the records of the same courier id
// or badge and of those whose keys are gone; Collect destroys their keys after the
// commit.
func (b Book) Put(t Records, e, slot uint32, c Content) error {
	if err := b.Drop(t, c.ID, c.Badge); err != nil {
		return err
	}
	r, err := b.Seal(e, slot, c)
	if err != nil {
		return err
	}
	return t.PutCourier(nil, r)
}

// Drop deletes the records of courier id and of badge digest d (zero: none), and those
// whose keys are gone.
func (b Book) Drop(t Records, id string, d privacy.Digest) error {
	var drop []*store.CourierRecord
	if err := t.Couriers(func(r *store.CourierRecord) error {
		c, ok := b.Open(r)
		if !ok || c.ID == id || (!d.IsZero() && c.Badge == d) {
			drop = append(drop, r)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, r := range drop {
		if err := t.PutCourier(r, nil); err != nil {
			return err
		}
	}
	return nil
}

// Rewrite stores c in place of record r, in r's epoch and slot.
func (b Book) Rewrite(t Records, r *store.CourierRecord, c Content) error {
	nr, err := b.Seal(r.Epoch, r.Slot, c)
	if err != nil {
		return err
	}
	return t.PutCourier(r, nr)
}

// Stale returns the records sealed under an epoch before cur.
func Stale(t Records, cur uint32) ([]*store.CourierRecord, error) {
	var old []*store.CourierRecord
	err := t.Couriers(func(r *store.CourierRecord) error {
		if r.Epoch < cur {
			old = append(old, r)
		}
		return nil
	})
	return old, err
}

// Reseal files each of records under epoch cur (whose key exists), in its slot, so
// that their past epochs can be shredded. A record whose keys are gone is left: the
// next Put or Drop removes it.
func (b Book) Reseal(t Records, records []*store.CourierRecord, cur uint32) error {
	for _, r := range records {
		c, ok := b.Open(r)
		if !ok {
			continue
		}
		nr, err := b.Seal(cur, r.Slot, c)
		if err != nil {
			return err
		}
		if err := t.PutCourier(r, nr); err != nil {
			return err
		}
	}
	return nil
}
