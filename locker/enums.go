package locker

import (
	"fmt"
)

// Size is a compartment or parcel size class. Sizes are ordered: a parcel fits any
// compartment of its size or larger. The wire and disk names are stable.
type Size uint8

// Sizes, smallest first. Zero is "unknown" and never valid on a compartment.
const (
	SizeUnknown Size = 0
	SizeS       Size = 1
	SizeM       Size = 2
	SizeL       Size = 3
	SizeXL      Size = 4
)

var sizeNames = map[Size]string{SizeS: "S", SizeM: "M", SizeL: "L", SizeXL: "XL"}

func (s Size) String() string {
	if n, ok := sizeNames[s]; ok {
		return n
	}
	return fmt.Sprintf("size(%d)", uint8(s))
}

// ParseSize parses a size name (S, M, L, XL; case-sensitive as on the wire).
func ParseSize(name string) (Size, error) {
	for s, n := range sizeNames {
		if n == name {
			return s, nil
		}
	}
	return SizeUnknown, fmt.Errorf("locker: unknown size %q (want S, M, L or XL)", name)
}

// MarshalText implements encoding.TextMarshaler with the stable name.
func (s Size) MarshalText() ([]byte, error) {
	if _, ok := sizeNames[s]; !ok {
		return nil, fmt.Errorf("locker: cannot encode %v", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	*s = v
	return err
}

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

func (k Kind) String() string {
	switch k {
	case KindDoor:
		return "door"
	case KindShelf:
		return "shelf"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind parses "door" or "shelf".
func ParseKind(name string) (Kind, error) {
	switch name {
	case "door":
		return KindDoor, nil
	case "shelf":
		return KindShelf, nil
	}
	return 0, fmt.Errorf("locker: unknown compartment kind %q (want door or shelf)", name)
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if k != KindDoor && k != KindShelf {
		return nil, fmt.Errorf("locker: cannot encode %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	*k = v
	return err
}

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
func (s ParcelState) Valid() bool {
	switch s {
	case StateAnnounced, StateDeposited, StatePickedUp, StateExpired, StateRetrieved, StateCancelled, StateRecalled:
		return true
	}
	return false
}

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

// Rights are what a courier credential allows.
type Rights struct {
	Deposit  bool `json:"deposit"`
	Retrieve bool `json:"retrieve"`
}
