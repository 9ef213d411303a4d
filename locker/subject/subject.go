// Package subject turns the ids of the people a station records — couriers and
// operators, its data subjects — into keyed pseudonyms for the audit log, and erases
// one subject's pseudonyms on the cloud's word
// (docs/adr/0065-audit-actors-as-pseudonyms.md).
//
// A subject's pseudonym in an epoch is an HMAC of its id under a random key of its own
// for that epoch, kept in the keyring at a slot (SlotBase and up). The slot is found
// through a row of the store filed under the id's HMAC under the epoch key. So:
//
//   - within an epoch, one subject's entries carry one pseudonym, and the station (the
//     holder of the keys) can say which entries are a given subject's (Link);
//   - when the epoch is shredded (its key destroyed, docs/privacy.md §7), its rows can
//     no longer be found and Collect destroys their keys: the entries stay, their
//     pseudonyms link to nobody;
//   - erasing a subject (Erase) deletes its rows and destroys its keys at once, in
//     every epoch: the same, for one subject, without waiting.
//
// The audit chain covers the pseudonyms, not the ids, so neither shredding nor erasure
// touches an entry: the chain verifies afterwards as before.
//
// The package has no state of its own: package locker holds the lock, opens the store
// transaction and destroys the keys after its commit.
package subject

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/lockerd/lockerd/locker/courier"
	"github.com/lockerd/lockerd/locker/model"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/locker/store"
)

// SlotBase is the first keyring entry that holds a subject's key: above the couriers'.
const SlotBase = courier.SlotEnd

// MaxKeys is the most subject keys a keyring holds at once (each subject active in a
// live epoch holds one). Beyond it an actor gets a pseudonym used once, linked to
// nothing: the audit entry is written, without linkability.
const MaxKeys = 1024

// IsSlot reports whether keyring entry e is a subject's key.
func IsSlot(e uint32) bool { return e >= SlotBase }

// Prefix starts every pseudonym: "p1." and 24 hex digits (96 bits of an HMAC).
const Prefix = "p1."

const pseudonymHex = 24

// IsPseudonym reports whether s has the form of a pseudonym.
func IsPseudonym(s string) bool {
	if len(s) != len(Prefix)+pseudonymHex || !strings.HasPrefix(s, Prefix) {
		return false
	}
	_, err := hex.DecodeString(s[len(Prefix):])
	return err == nil
}

// Personal reports whether actor names a person (a courier's or an operator's id)
// rather than a role the station names itself, and is not yet a pseudonym.
func Personal(actor string) bool {
	switch actor {
	case "", model.ActorRecipient, model.ActorSystem, model.ActorStaff, model.ActorCloud:
		return false
	}
	return !IsPseudonym(actor)
}

// Records is the store's side of the subjects: rows filed under an index, and the
// parcel records that name their depositor.
type Records interface {
	Subject(index privacy.Digest) (epoch, slot uint32, ok bool, err error)
	PutSubject(index privacy.Digest, epoch, slot uint32) error
	DeleteSubject(index privacy.Digest) error
	Subjects(fn func(index privacy.Digest, epoch, slot uint32) error) error
	Parcels(fn func(p *store.Record) error) error
	PutParcel(old, p *store.Record) error
}

// Book keeps subject keys in a keyring.
type Book struct {
	Keyring *privacy.Keyring
}

func hmacOf(key []byte, label, id string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte(id))
	return m.Sum(nil)
}

// index is where subject id's row of the epoch with key ke is filed.
func index(ke [32]byte, id string) privacy.Digest {
	return privacy.Digest(hmacOf(ke[:], "lockerd/subject-index/v1\n", id))
}

// Of returns subject id's pseudonym under its key k.
func Of(k [32]byte, id string) string {
	return Prefix + hex.EncodeToString(hmacOf(k[:], "lockerd/subject/v1\n", id)[:pseudonymHex/2])
}

// Pseudonym returns subject id's pseudonym in epoch, filing a row and creating a key
// for it if it has none there yet. A key created for a transaction that does not
// commit is destroyed by the next Collect.
func (b Book) Pseudonym(t Records, epoch uint32, id string) (string, error) {
	ke, err := b.Keyring.Key(epoch)
	if err != nil {
		return "", fmt.Errorf("locker: epoch key: %w", err)
	}
	idx := index(ke, id)
	_, slot, ok, err := t.Subject(idx)
	if err != nil {
		return "", err
	}
	if ok {
		if k, ok := b.Keyring.Lookup(slot); ok {
			return Of(k, id), nil
		}
		// A row whose key is gone (a crash between an erasure's commit and its
		// keys' destruction is the other way round; this is a keyring restored
		// from an older copy): the subject starts afresh.
	}
	slot, ok, err = b.newSlot()
	if err != nil {
		return "", err
	}
	if !ok {
		return oneOff(), nil
	}
	if err := t.PutSubject(idx, epoch, slot); err != nil {
		return "", err
	}
	k, _ := b.Keyring.Lookup(slot)
	return Of(k, id), nil
}

// oneOff returns a random pseudonym, linked to nothing.
func oneOff() string {
	var r [pseudonymHex / 2]byte
	_, _ = rand.Read(r[:]) // crypto/rand does not fail on Linux
	return Prefix + hex.EncodeToString(r[:])
}

// newSlot creates a key at the lowest free subject slot; ok false when MaxKeys are in use.
func (b Book) newSlot() (uint32, bool, error) {
	used := map[uint32]bool{}
	for _, e := range b.Keyring.Epochs() {
		if IsSlot(e) {
			used[e] = true
		}
	}
	if len(used) >= MaxKeys {
		return 0, false, nil
	}
	slot := SlotBase
	for used[slot] {
		slot++
	}
	if _, err := b.Keyring.Key(slot); err != nil {
		return 0, false, fmt.Errorf("locker: subject key: %w", err)
	}
	return slot, true, nil
}

// Link returns subject id's pseudonyms in epochs (those with a row), newest epoch
// first when epochs are: what the station can still say about whose entries are whose.
func (b Book) Link(t Records, id string, epochs []uint32) ([]string, error) {
	var out []string
	for _, e := range epochs {
		ke, ok := b.Keyring.Lookup(e)
		if !ok {
			continue
		}
		_, slot, ok, err := t.Subject(index(ke, id))
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if k, ok := b.Keyring.Lookup(slot); ok {
			out = append(out, Of(k, id))
		}
	}
	return out, nil
}

// Erase deletes subject id's rows in epochs and returns their slots, whose keys the
// caller destroys (Destroy) after the commit. The parcels id deposited forget who did
// (their records hold it sealed under the parcel's epoch key, which a copy of the card
// holds).
func (b Book) Erase(t Records, id string, epochs []uint32) ([]uint32, error) {
	var deposited []*store.Record
	if err := t.Parcels(func(p *store.Record) error {
		if p.Courier == id {
			deposited = append(deposited, p)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, p := range deposited {
		np := *p
		np.Courier = ""
		if err := t.PutParcel(p, &np); err != nil {
			return nil, err
		}
	}
	var slots []uint32
	for _, e := range epochs {
		ke, ok := b.Keyring.Lookup(e)
		if !ok {
			continue
		}
		idx := index(ke, id)
		_, slot, ok, err := t.Subject(idx)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := t.DeleteSubject(idx); err != nil {
			return nil, err
		}
		slots = append(slots, slot)
	}
	return slots, nil
}

// Collect finds what shredding and interrupted erasures left: the rows whose epoch key
// is gone (stale), which the caller deletes in a transaction (Drop), and the subject
// keys that no other row names (slots), which it destroys (Destroy). It only reads t.
func (b Book) Collect(t Records) (stale []privacy.Digest, slots []uint32, err error) {
	named := map[uint32]bool{}
	if err := t.Subjects(func(idx privacy.Digest, epoch, slot uint32) error {
		if _, ok := b.Keyring.Lookup(epoch); !ok {
			stale = append(stale, idx)
			return nil
		}
		named[slot] = true
		return nil
	}); err != nil {
		return nil, nil, err
	}
	for _, e := range b.Keyring.Epochs() {
		if IsSlot(e) && !named[e] {
			slots = append(slots, e)
		}
	}
	return stale, slots, nil
}

// Drop deletes the rows filed under stale.
func Drop(t Records, stale []privacy.Digest) error {
	for _, idx := range stale {
		if err := t.DeleteSubject(idx); err != nil {
			return err
		}
	}
	return nil
}

// Destroy destroys the keys of slots: whatever they made can no longer be linked.
func (b Book) Destroy(slots []uint32) error {
	for _, s := range slots {
		if !IsSlot(s) {
			return fmt.Errorf("locker: %d is not a subject slot", s)
		}
		if err := b.Keyring.Destroy(s); err != nil {
			return fmt.Errorf("locker: destroy subject key: %w", err)
		}
	}
	return nil
}

// operatorMark starts the reason of an event that a cloud command acting on an
// operator's word caused (firmware/cloudlink: "operator NAME; command ID").
const operatorMark = "operator "

// AuditForm returns e as the audit log keeps it: each subject it names replaced by the
// subject's pseudonym in epoch — the actor, the courier a courier_upserted or
// courier_revoked names in its reason, the operator a command's reason names. changed
// is false when e names nobody.
func (b Book) AuditForm(t Records, epoch uint32, e model.Event) (model.Event, bool, error) {
	changed := false
	pseudo := func(s *string) error {
		p, err := b.Pseudonym(t, epoch, *s)
		if err != nil {
			return err
		}
		*s, changed = p, true
		return nil
	}
	if Personal(e.Actor) {
		if err := pseudo(&e.Actor); err != nil {
			return e, false, err
		}
	}
	switch {
	case e.Type == model.EvCourierUpserted || e.Type == model.EvCourierRevoked:
		if Personal(e.Reason) {
			if err := pseudo(&e.Reason); err != nil {
				return e, false, err
			}
		}
	case strings.HasPrefix(e.Reason, operatorMark):
		name, rest, _ := strings.Cut(e.Reason[len(operatorMark):], ";")
		if Personal(name) {
			if err := pseudo(&name); err != nil {
				return e, false, err
			}
			if rest != "" {
				rest = ";" + rest
			}
			e.Reason = operatorMark + name + rest
		}
	}
	return e, changed, nil
}

// sealedMark starts an actor sealed for a record (SealActor).
const sealedMark = "s1."

func actorAD(comp uint16) []byte { return fmt.Appendf(nil, "lockerd/op-actor/v1/%d", comp) }

// SealActor returns actor (the courier or operator of an operation under way in
// compartment comp) sealed under epoch's key, as a string a compartment record holds
// in its place: "s1." + base64url(epoch ‖ sealed). A role (Personal false) is returned
// as it is. The record then holds nothing that names a person in clear, in its pages
// or in the free pages a later write leaves behind.
func (b Book) SealActor(epoch uint32, comp uint16, actor string) (string, error) {
	if !Personal(actor) {
		return actor, nil
	}
	k, err := b.Keyring.Key(epoch)
	if err != nil {
		return "", fmt.Errorf("locker: epoch key: %w", err)
	}
	raw := binary.BigEndian.AppendUint32(nil, epoch)
	raw = append(raw, privacy.SealBytes(k, []byte(actor), actorAD(comp))...)
	return sealedMark + base64.RawURLEncoding.EncodeToString(raw), nil
}

// OpenActor returns the actor a compartment record holds: s itself when it is not
// sealed (a role, or a record written before ADR 0065), "" when its epoch key is gone
// (shredded while the operation waited) or it does not open.
func (b Book) OpenActor(comp uint16, s string) string {
	if !strings.HasPrefix(s, sealedMark) {
		return s
	}
	raw, err := base64.RawURLEncoding.DecodeString(s[len(sealedMark):])
	if err != nil || len(raw) < 4 {
		return ""
	}
	k, ok := b.Keyring.Lookup(binary.BigEndian.Uint32(raw))
	if !ok {
		return ""
	}
	plain, err := privacy.OpenBytes(k, raw[4:], actorAD(comp))
	if err != nil {
		return ""
	}
	return string(plain)
}

// EntityKey returns a keyed digest of subject id (32 hex digits) under key, for a record
// outside the audit log that must find the subject again without naming it (the
// command log's revision of a courier, ADR 0055).
func EntityKey(key []byte, id string) string {
	return hex.EncodeToString(hmacOf(key, "lockerd/subject-entity/v1\n", id)[:16])
}

// AtRest returns c as a compartment record holds it: the actor of its operation under
// way sealed under epoch's key (SealActor); c itself when the actor is a role.
func (b Book) AtRest(c *model.Compartment, epoch uint32) (*model.Compartment, error) {
	if !Personal(c.OpActor) {
		return c, nil
	}
	sealed, err := b.SealActor(epoch, uint16(c.ID), c.OpActor)
	if err != nil {
		return nil, err
	}
	cp := *c
	cp.OpActor = sealed
	return &cp, nil
}

// Stores is what CollectIn and LinkIn need of the store: its transactions.
type Stores interface {
	View(fn func(store.Tx) error) error
	Update(fn func(store.Tx) error) error
}

// CollectIn runs Collect over st: the rows of shredded epochs dropped in one commit
// (none when there are none), then the keys no row names destroyed.
func (b Book) CollectIn(st Stores) error {
	var stale []privacy.Digest
	var slots []uint32
	if err := st.View(func(t store.Tx) (err error) {
		stale, slots, err = b.Collect(t)
		return err
	}); err != nil {
		return err
	}
	if len(stale) > 0 {
		if err := st.Update(func(t store.Tx) error { return Drop(t, stale) }); err != nil {
			return err
		}
	}
	return b.Destroy(slots)
}

// LinkIn runs Link in a read transaction of st.
func (b Book) LinkIn(st Stores, id string, epochs []uint32) (out []string, err error) {
	err = st.View(func(t store.Tx) error {
		out, err = b.Link(t, id, epochs)
		return err
	})
	return out, err
}

// Open sets c's actor from the form a compartment record holds it in (OpenActor).
func (b Book) Open(c *model.Compartment) { c.OpActor = b.OpenActor(uint16(c.ID), c.OpActor) }

// AtRestNewest is AtRest under the newest epoch's key: at start, which must not read the
// clock before its floor is loaded (docs/adr/0058-time-without-a-clock-chip.md).
func (b Book) AtRestNewest(c *model.Compartment) (*model.Compartment, error) {
	var newest uint32
	for _, e := range b.Keyring.Epochs() {
		if courier.IsEpoch(e) {
			newest = max(newest, e)
		}
	}
	return b.AtRest(c, newest)
}
