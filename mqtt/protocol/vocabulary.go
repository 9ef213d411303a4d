package protocol

import "github.com/lockerd/lockerd/internal/enum"

// Size is a parcel or compartment size class, smallest first.
type Size string

// Sizes.
const (
	SizeS  Size = "S"
	SizeM  Size = "M"
	SizeL  Size = "L"
	SizeXL Size = "XL"
)

var sizes = enum.Strings(unknown("size"), SizeS, SizeM, SizeL, SizeXL)

// ParseSize parses a size (case-sensitive).
func ParseSize(s string) (Size, error) { return sizes.Parse(s) }

// Valid reports whether s is a defined size.
func (s Size) Valid() bool { return sizes.Valid(s) }

// Sizes lists every size, smallest first.
func Sizes() []Size { return sizes.Values() }

// Right is something a courier credential allows.
type Right string

// Courier rights.
const (
	RightDeposit  Right = "deposit"
	RightRetrieve Right = "retrieve"
)

var rights = enum.Strings(unknown("right"), RightDeposit, RightRetrieve)

// ParseRight parses a courier right.
func ParseRight(s string) (Right, error) { return rights.Parse(s) }

// Valid reports whether r is a defined right.
func (r Right) Valid() bool { return rights.Valid(r) }

// Rights lists every right.
func Rights() []Right { return rights.Values() }

// OpenReason says why an operator opens a compartment remotely; it is
// audited. It is an enumeration, not free text, so that no personal data
// can slip into the audit log through it.
type OpenReason string

// Remote-open reasons.
const (
	OpenSupport     OpenReason = "support"     // helping a recipient or courier on the phone
	OpenMaintenance OpenReason = "maintenance" // repair or cleaning
	OpenInspection  OpenReason = "inspection"  // checking the contents
	OpenRetrieval   OpenReason = "retrieval"   // staff taking a parcel out
	OpenOther       OpenReason = "other"
)

var openReasons = enum.Strings(unknown("open reason"), OpenSupport, OpenMaintenance, OpenInspection, OpenRetrieval, OpenOther)

// ParseOpenReason parses a remote-open reason.
func ParseOpenReason(s string) (OpenReason, error) { return openReasons.Parse(s) }

// Valid reports whether r is a defined remote-open reason.
func (r OpenReason) Valid() bool { return openReasons.Valid(r) }

// OpenReasons lists every remote-open reason.
func OpenReasons() []OpenReason { return openReasons.Values() }

// DoorOp is the operation a door event belongs to.
type DoorOp string

// Door operations; OpNone marks a door event outside any operation.
const (
	OpNone     DoorOp = "none"
	OpDeposit  DoorOp = "deposit"
	OpPickup   DoorOp = "pickup"
	OpRetrieve DoorOp = "retrieve"
	OpOperator DoorOp = "operator"
	OpCancel   DoorOp = "cancel"
)

var doorOps = enum.Strings(unknown("door operation"), OpNone, OpDeposit, OpPickup, OpRetrieve, OpOperator, OpCancel)

// ParseDoorOp parses a door operation.
func ParseDoorOp(s string) (DoorOp, error) { return doorOps.Parse(s) }

// Valid reports whether o is a defined door operation.
func (o DoorOp) Valid() bool { return doorOps.Valid(o) }

// DoorOps lists every door operation.
func DoorOps() []DoorOp { return doorOps.Values() }

// Health is the state of a driver or component.
type Health string

// Health states.
const (
	HealthOK       Health = "ok"
	HealthDegraded Health = "degraded"
	HealthFailed   Health = "failed"
	HealthUnknown  Health = "unknown"
)

var healths = enum.Strings(unknown("health"), HealthOK, HealthDegraded, HealthFailed, HealthUnknown)

// ParseHealth parses a health state.
func ParseHealth(s string) (Health, error) { return healths.Parse(s) }

// Valid reports whether h is a defined health state.
func (h Health) Valid() bool { return healths.Valid(h) }

// Healths lists every health state.
func Healths() []Health { return healths.Values() }

// ThrottleSource is where guessing was throttled.
type ThrottleSource string

// Throttle sources.
const (
	ThrottleCode    ThrottleSource = "code"    // pickup codes at the keypad or screen
	ThrottleCourier ThrottleSource = "courier" // courier badge and PIN
	ThrottleQR      ThrottleSource = "qr"      // pickup QR scans (guessing events only)
)

var throttleSources = enum.Strings(unknown("throttle source"), ThrottleCode, ThrottleCourier, ThrottleQR)

// ParseThrottleSource parses a throttle source.
func ParseThrottleSource(s string) (ThrottleSource, error) { return throttleSources.Parse(s) }

// Valid reports whether s is a defined throttle source.
func (s ThrottleSource) Valid() bool { return throttleSources.Valid(s) }

// ThrottleSources lists every throttle source.
func ThrottleSources() []ThrottleSource { return throttleSources.Values() }

// PresenceState is the state in a presence message.
type PresenceState string

// Presence states.
const (
	Online  PresenceState = "online"
	Offline PresenceState = "offline"
)

var presenceStates = enum.Strings(unknown("presence state"), Online, Offline)

// ParsePresenceState parses a presence state.
func ParsePresenceState(s string) (PresenceState, error) { return presenceStates.Parse(s) }

// Valid reports whether s is a defined presence state.
func (s PresenceState) Valid() bool { return presenceStates.Valid(s) }

// PresenceStates lists every presence state.
func PresenceStates() []PresenceState { return presenceStates.Values() }
