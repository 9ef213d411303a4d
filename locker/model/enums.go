package model

import (
	"fmt"

	"github.com/lockerd/lockerd/internal/enum"
)

// Size is a compartment or parcel size class. Sizes are ordered: a parcel fits any
// compartment of its size or larger. Numbers and names are both stable: binary
// parcel records store the number; the wire, JSON records and the config the name
// (ADR 0044).
type Size uint8

// Sizes, smallest first. Zero is "unknown" and never valid on a compartment.
const (
	SizeUnknown Size = 0
	SizeS       Size = 1
	SizeM       Size = 2
	SizeL       Size = 3
	SizeXL      Size = 4
)

var sizes = enum.New(enum.Spec[Size]{
	Defs: []enum.Def[Size]{
		{Value: SizeS, Name: "S"},
		{Value: SizeM, Name: "M"},
		{Value: SizeL, Name: "L"},
		{Value: SizeXL, Name: "XL"},
	},
	Unknown:     func(name string) error { return fmt.Errorf("locker: unknown size %q (want S, M, L or XL)", name) },
	Other:       "size(%d)",
	Unencodable: cannotEncode[Size],
})

// cannotEncode is MarshalText's error for a value outside its enumeration.
func cannotEncode[T fmt.Stringer](v T) error { return fmt.Errorf("locker: cannot encode %v", v) }

func (s Size) String() string { return sizes.String(s) }

// ParseSize parses a size name (S, M, L, XL; case-sensitive as on the wire).
func ParseSize(name string) (Size, error) { return sizes.Parse(name) }

// MarshalText implements encoding.TextMarshaler with the stable name.
func (s Size) MarshalText() ([]byte, error) { return sizes.MarshalText(s) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error { return sizes.UnmarshalText(s, b) }

// Kind says how a compartment holds parcels.
type Kind uint8

// Kinds of compartment.
const (
	// KindDoor is a locker compartment behind a door with a lock and a door sensor.
	KindDoor Kind = 1
	// KindShelf is a shelf slot of a staffed station: no lock; handover is confirmed by
	// scanning the parcel.
	KindShelf Kind = 2
)

var kinds = enum.New(enum.Spec[Kind]{
	Defs: []enum.Def[Kind]{
		{Value: KindDoor, Name: "door"},
		{Value: KindShelf, Name: "shelf"},
	},
	Unknown: func(name string) error {
		return fmt.Errorf("locker: unknown compartment kind %q (want door or shelf)", name)
	},
	Other:       "kind(%d)",
	Unencodable: cannotEncode[Kind],
})

func (k Kind) String() string { return kinds.String(k) }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) { return kinds.MarshalText(k) }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error { return kinds.UnmarshalText(k, b) }

// ParcelState is a parcel's place in its lifecycle:
//
//	announced -> deposited -> picked_up
//	deposited -> expired -> retrieved
//	deposited -> recalled -> retrieved
//	announced -> cancelled
//
// The names are stable: they are stored and sent to the cloud.
type ParcelState string

// Parcel states.
const (
	StateAnnounced ParcelState = "announced"
	StateDeposited ParcelState = "deposited"
	StatePickedUp  ParcelState = "picked_up"
	StateExpired   ParcelState = "expired"
	StateRetrieved ParcelState = "retrieved"
	StateCancelled ParcelState = "cancelled"
	StateRecalled  ParcelState = "recalled"
)

// Terminal reports whether no further transition can happen; terminal records are
// purged on a schedule.
func (s ParcelState) Terminal() bool {
	return s == StatePickedUp || s == StateRetrieved || s == StateCancelled
}

// InCompartment reports whether a parcel in this state occupies a compartment.
func (s ParcelState) InCompartment() bool {
	return s == StateDeposited || s == StateExpired || s == StateRecalled
}

// Valid reports whether s is one of the defined states.
func (s ParcelState) Valid() bool { return parcelStates.Valid(s) }

var parcelStates = enum.Strings(func(name string) error { return fmt.Errorf("locker: unknown parcel state %q", name) },
	StateAnnounced, StateDeposited, StatePickedUp, StateExpired, StateRetrieved, StateCancelled, StateRecalled)

// Op is the physical operation under way at a door compartment. Ops are stored so that a
// restart can finish or abort them against what the door sensor says.
type Op string

// Door operations.
const (
	OpNone     Op = ""
	OpDeposit  Op = "deposit"  // reserved for a courier's parcel; door closing confirms the deposit
	OpCancel   Op = "cancel"   // a deposit being undone; door closing frees the compartment
	OpPickup   Op = "pickup"   // opened by a recipient's code; door closing completes the pickup
	OpRetrieve Op = "retrieve" // opened for a courier taking out an expired or recalled parcel
	OpOperator Op = "operator" // opened remotely by an operator; no parcel transition
)
