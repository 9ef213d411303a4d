// Package store is the boundary between the station's domain (package locker) and its
// durable state (docs/adr/0038-store-boundary.md): the Store and Tx the station's flows
// use, and the plain values that cross them. It names no storage engine; lockerd's is
// bbolt, in locker/store/boltstore, which lays these values out on flash
// (docs/adr/0003-store-layout.md).
//
// A state transition is one Tx inside Store.Update: one commit, one fsync, whatever it
// touches (docs/adr/0027-one-write-per-command.md). Values the domain owns
// (compartments, couriers, policy, throttles, events) are its JSON, opaque here.
package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/locker/privacy"
)

// Options say where a store is and which keys seal what it holds.
type Options struct {
	Path     string           // the store's file, inside the state directory
	AuditKey []byte           // the audit chain's MAC key
	Keyring  *privacy.Keyring // epoch keys: the outbox is sealed under them
}

// Opener opens (creating on first start) a store: boltstore.Open in lockerd.
type Opener func(Options) (Store, error)

// Store is an open station store. Its writes are serialised by the station's lock.
type Store interface {
	// Update runs fn in one write transaction: one commit, one fsync. Nothing fn
	// wrote is durable or visible if it returns an error.
	Update(fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	Close() error
	// Seq is the sequence number of the last event committed.
	Seq() uint64

	// Due returns up to max rows of timer's index whose time is at or before now.
	Due(timer Timer, now time.Time, max int) ([]Due, error)
	// UnusedEpochs returns those of epochs no parcel record or outbox entry is sealed
	// under; ForgetEpochs drops the counts of destroyed ones, in one commit.
	UnusedEpochs(epochs []uint32) ([]uint32, error)
	ForgetEpochs(dead []uint32) error

	// The command log's housekeeping (docs/adr/0022-command-dedup-and-outcome-unknown.md);
	// its entries are read and written in a Tx (CommandTx).
	// CommandExpiryDue reports, without writing, whether ForgetCommands has work:
	// ids whose expiry passed more than CommandGrace before now (at most max a call).
	CommandExpiryDue(now time.Time) bool
	ForgetCommands(now time.Time, max int) error

	// Outbox passes up to max undelivered events after seq after to decode, in order;
	// OutboxAck marks every event up to seq delivered (again is no error). Wire is the
	// outbox as the cloud link numbers it. The outbox is the audit log after its
	// delivered mark (docs/adr/0060-outbox-in-the-audit-log.md).
	Outbox(after uint64, max int, decode Decode) error
	OutboxAck(seq uint64) error
	Wire(keep func(payload []byte) (bool, error)) Wire

	// The audit chain: VerifyAudit returns its length or an error wrapping
	// audit.ErrBroken; AuditRange and AuditBackward pass payloads in and against
	// sequence order until fn returns false; Prunable finds the entries older than keep
	// (docs/adr/0030-audit-retention.md), at most max, for Tx.PruneAudit.
	VerifyAudit() (int, error)
	// AuditHead is the chain's last entry as committed: its sequence number and MAC
	// (zero for an empty chain). The health event carries it for the fleet to anchor
	// (docs/adr/0050-authenticated-events.md).
	AuditHead() (seq uint64, mac [32]byte)
	AuditRange(from, to uint64, fn func(seq uint64, payload []byte) bool) error
	AuditBackward(fn func(seq uint64, payload []byte) bool) error
	Prunable(now time.Time, keep time.Duration, max int) (upTo uint64, n, unreadable int, err error)
}

// Tx is one transaction: in Update a state transition, in View a consistent read.
type Tx interface {
	// Init makes a new store's layout and records its locker id, or checks both and
	// brings an older layout up to date (what it changed in Migration); EpochLength
	// records or checks the epoch length, fixed for a store.
	Init(lockerID string) (Migration, error)
	EpochLength(d time.Duration) error

	GetMeta(k Meta, v any) (bool, error)
	PutMeta(k Meta, v any) error
	// Compartments passes each stored compartment's JSON to fn, in id order.
	Compartments(fn func(v []byte) error) error
	PutCompartment(id uint16, c any) error
	DeleteCompartment(id uint16) error
	// Courier reads the courier record filed under key (nil when none); PutCourier
	// stores c (nil deletes) in place of old (nil when new), with its epoch's reference
	// count; Couriers passes every record to fn.
	Courier(key privacy.Digest) (*CourierRecord, error)
	PutCourier(old, c *CourierRecord) error
	Couriers(fn func(c *CourierRecord) error) error
	// Subject reads the subject row filed under index (ok false when none); PutSubject
	// files one, DeleteSubject deletes one, Subjects passes every row to fn
	// (docs/adr/0065-audit-actors-as-pseudonyms.md).
	Subject(index privacy.Digest) (epoch, slot uint32, ok bool, err error)
	PutSubject(index privacy.Digest, epoch, slot uint32) error
	DeleteSubject(index privacy.Digest) error
	Subjects(fn func(index privacy.Digest, epoch, slot uint32) error) error

	// Parcel reads a record (ErrUnknownParcel when there is none); PutParcel stores p
	// (nil deletes) in place of old (nil when new), with its index rows and its epoch's
	// reference count.
	Parcel(id string) (*Record, error)
	PutParcel(old, p *Record) error
	// Parcels passes every record to fn, in id order; fn must not write.
	Parcels(fn func(p *Record) error) error
	// ByWaybill and ByCode find parcels by sealed waybill digest and sealed verifier.
	ByWaybill(sealed privacy.Digest) (string, bool)
	ByCode(sealed privacy.Digest) []string
	DeleteDue(timer Timer, d Due) error
	// CountStates counts the records by state, cheaply.
	CountStates() (map[string]int, error)
	// CountLegacy counts the announced or deposited records that hold a scheme-1
	// verifier (Record.Verifier), cheaply.
	CountLegacy() (int, error)

	// NextSeq is the number the next appended event gets; Append records it: its
	// auditPayload in the audit chain and, when payload (its form for the cloud) says
	// more, payload sealed under epoch's key beside it until it is delivered.
	NextSeq() uint64
	Append(auditPayload, payload []byte, epoch uint32) error
	// ResumeAudit finds the chain's head at start; damaged reports a pruned start that
	// does not open (the chain then starts again at 1).
	ResumeAudit() (damaged, err error)
	// PruneAudit deletes the entries up to upTo and seals the new start; events not
	// yet delivered among them go too (retention bounds the outbox).
	PruneAudit(upTo uint64) (start uint64, pruned int, err error)
	// OutboxLen is the number of events not yet delivered.
	OutboxLen() int

	CommandTx
}

// CommandReader reads the command log (docs/adr/0022-command-dedup-and-outcome-unknown.md).
type CommandReader interface {
	// Command reads id: known false when the log does not have it, else its stored
	// reply and whether it finished (an id in progress has no reply).
	Command(id string) (reply []byte, done, known bool, err error)
	// CommandDigest reads the digest of id's body, or nil when none is stored (an
	// unknown id, or one recorded before digests were kept; docs/adr/0055).
	CommandDigest(id string) ([]byte, error)
	// Revision reads the revision of the command in force for an entity (its key
	// names kind and id, docs/adr/0055): ok false when none is kept.
	Revision(key string) (rev int64, ok bool, err error)
	// IssuedFloor reads the newest command issue time noted (NoteIssued), or the zero
	// time.
	IssuedFloor() (time.Time, error)
}

// CommandTx is the command log's part of a write transaction. The cloud link's adapter
// keeps the log, in the station's transitions (locker.Station.Atomically,
// docs/adr/0045-command-log-in-the-adapter.md); the store only lays it out.
type CommandTx interface {
	CommandReader
	// BeginCommand records id, which the log does not have, as in progress until exp.
	BeginCommand(id string, exp time.Time) error
	// FinishCommand stores the final reply of begun id, keeping its expiry (an error
	// for an id never begun).
	FinishCommand(id string, reply []byte) error
	// PutCommand records id done with its final reply, kept until exp.
	PutCommand(id string, exp time.Time, reply []byte) error
	// PutCommandDigest stores the CommandDigestSize-byte digest of the body of id,
	// which the log has; it is forgotten with id.
	PutCommandDigest(id string, digest []byte) error
	// PutRevision records rev as the revision in force for the entity key, kept until
	// until (and CommandGrace more); ForgetCommands drops it then.
	PutRevision(key string, rev int64, until time.Time) error
	// NoteIssued raises the newest command issue time the log has seen to iat, if
	// later. ForgetCommands forgets nothing by a clock more than IssuedSkew ahead of
	// it (docs/adr/0055): a device clock pushed forward and back reopens no replay.
	NoteIssued(iat time.Time) error
}

// Wire is the outbox as the cloud link sees it
// (docs/adr/0023-event-outbox-and-ordering.md): only the entries keep accepts, numbered
// 1, 2, 3, … for ever, the k-th kept entry after the last acknowledged one numbered
// acked+k; only the last acknowledged number is stored, so an entry keeps its number
// across restarts until it is acknowledged.
type Wire interface {
	// Pending passes up to max kept entries numbered after after to decode, in order.
	Pending(after uint64, max int, decode func(wire, seq uint64, payload []byte) error) error
	// Ack removes the kept entries numbered up to wire, and the entries not sent that
	// precede the last of them, in one commit. lock is taken, after the view's own
	// lock, for the commit.
	Ack(wire uint64, lock func() (unlock func(), err error)) error
	// Len returns the number of kept entries not yet acknowledged.
	Len() (int, error)
}

// Decode turns one opened outbox entry into the caller's event; an error from it names
// the entry.
type Decode func(seq uint64, payload []byte) error

// Record is a parcel record: the fields of locker.Parcel in plain types. State is the
// parcel state's stable name (locker.ParcelState), Size its size code.
type Record struct {
	ID       string
	Epoch    uint32
	Waybill  privacy.Digest
	Verifier privacy.Digest // scheme-1 (legacy) code verifier, sealed
	// CodeVerifier (scheme 2) and QRVerifier, sealed; zero when none.
	CodeVerifier privacy.Digest
	QRVerifier   privacy.Digest
	Hint         string
	Size         uint8
	State        string
	Announced    bool
	Compartment  uint16
	Generation   uint64
	Courier      string
	ExpiresAt    time.Time
	KeepUntil    time.Time
	Updated      time.Time
	PurgeAt      time.Time
}

// CourierRecord is a courier as the store keeps it
// (docs/adr/0049-nothing-linkable-at-rest.md): filed under its badge digest sealed under
// an epoch key, its content (id, PIN verifier, rights, throttle) sealed by the domain
// under a key of the courier's own, which a revoke destroys.
type CourierRecord struct {
	Key    privacy.Digest // Seal(epoch key, badge digest)
	Epoch  uint32         // the epoch Key is sealed under: the record counts in it
	Slot   uint32         // the keyring entry of the courier's own key
	Sealed []byte         // the content, sealed
}

// Migration says what Tx.Init changed to bring a store written by an older build up
// to date (docs/adr/0049-nothing-linkable-at-rest.md); zero when nothing.
type Migration struct {
	From     int // the schema the store had
	Hints    int // parcel records whose clear hint was sealed
	Couriers int // courier records of the old form, dropped: the cloud sends them again
	// Outbox: undelivered events moved into the audit log (docs/adr/0060); OutboxLost:
	// those whose audit entry was already pruned, which cannot be sent any more.
	Outbox, OutboxLost int
}

// Meta names a value of the domain's, kept as JSON beside the store's own.
type Meta string

// The domain's values.
const (
	MetaPolicy          Meta = "policy"           // the policy the cloud last set
	MetaCodeThrottle    Meta = "throttle_code"    // pickup-code failures
	MetaCourierThrottle Meta = "throttle_courier" // courier login failures
	MetaCodeGate        Meta = "code_gate"        // the last failed code evaluation and the failures per hour (ADR 0046)
)

// Timer names a time index: the parcels due for a timer step.
type Timer int

// The time indexes.
const (
	TimerExpiry Timer = iota // deposited parcels, by the end of their retention
	TimerKeep                // announced parcels, by when they are dropped if never deposited
	TimerPurge               // terminal parcels, by when their record goes
)

// Due is one row of a time index: a parcel whose time has come. Key is the row's,
// for Tx.DeleteDue.
type Due struct {
	Parcel string
	Key    []byte
}

// ErrUnknownParcel is returned for a parcel id with no record (locker.ErrUnknownParcel).
var ErrUnknownParcel = errors.New("locker: unknown parcel")

// ErrEmptyReply refuses to store an empty final reply (FinishCommand, PutCommand): the
// log tells a finished command from one in progress by its reply.
var ErrEmptyReply = errors.New("locker: empty final reply")

// maxCommandID bounds ids so that the log cannot be used to fill the store.
const maxCommandID = 128

// CheckCommandID refuses an id the command log does not take.
func CheckCommandID(id string) error {
	if id == "" || len(id) > maxCommandID {
		return fmt.Errorf("locker: command id must be 1..%d bytes", maxCommandID)
	}
	return nil
}

// IssuedSkew is how far ahead of the newest command issue time seen the command log's
// housekeeping may run: the skew a command's iat may have (docs/protocol.md §3.2).
const IssuedSkew = 5 * time.Minute

// CommandDigestSize is the size of a command body digest (SHA-256).
const CommandDigestSize = 32

// CommandGrace is how long a command id is kept past its expiry: an expired command is
// refused before it reaches the log, but a re-send that expired while it queued behind
// others is still answered from the log (link.CommandStore) within this time.
const CommandGrace = time.Hour
