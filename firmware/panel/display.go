package panel

import (
	"github.com/lockerd/lockerd/drivers/keypad"

	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// Mode is what the front panel is doing. Values are stable: a kiosk screen keys
// its layout on them.
type Mode int

// Panel modes.
const (
	ModeIdle    Mode = 1 // waiting for a code, a pickup QR or a courier badge
	ModeCode    Mode = 2 // a recipient is typing a pickup code
	ModePIN     Mode = 3 // a courier badge was read; the courier is typing the PIN
	ModeSession Mode = 4 // a courier session is open: scans are deposits
	ModePhone   Mode = 5 // a code was entered; the recipient is typing their phone's last four digits
)

var modeNames = map[Mode]string{ModeIdle: "idle", ModeCode: "code", ModePIN: "pin", ModeSession: "session", ModePhone: "phone"}

// String names the mode.
func (m Mode) String() string {
	if n, ok := modeNames[m]; ok {
		return n
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText encodes the stable name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// Prompt is what the panel tells the person in front of it. The wording (and its
// language) is the display's business; the values are stable.
type Prompt string

// Prompts.
const (
	PromptWelcome       Prompt = "welcome"         // type your code and #, or show your QR
	PromptTyping        Prompt = "typing"          // Screen.Digits dots
	PromptCleared       Prompt = "cleared"         // '*' wiped the entry
	PromptTimedOut      Prompt = "timed_out"       // a partial entry was dropped
	PromptDoorsOpen     Prompt = "doors_open"      // Slots opened (pickup, retrieval)
	PromptShelf         Prompt = "shelf"           // staffed: Slots are shelves, staff fetch the parcel
	PromptDoorFault     Prompt = "door_fault"      // Failed doors could not open: call staff
	PromptWrongCode     Prompt = "wrong_code"      // no parcel under that code and phone digits
	PromptPhone         Prompt = "phone"           // code taken: type your phone's last four digits and #
	PromptCodeFormat    Prompt = "code_format"     // not a code: Screen.CodeLength digits at least, then the phone's four
	PromptChecking      Prompt = "checking"        // the code is being checked: Screen.RetryAfter left at most
	PromptLocked        Prompt = "locked"          // too many failures: wait RetryAfter
	PromptEnterPIN      Prompt = "enter_pin"       // badge read: type the PIN and #
	PromptBadBadge      Prompt = "bad_credentials" // badge or PIN not recognised
	PromptSessionOpen   Prompt = "session_open"    // scan parcels; 1-4 size, 0 undo, 9 retrieve, # done
	PromptSize          Prompt = "size"            // Screen.Size chosen for unannounced parcels
	PromptDeposit       Prompt = "deposit"         // Slots[0] opened for the scanned parcel
	PromptChooseSize    Prompt = "choose_size"     // unannounced parcel: press 1-4, scan again
	PromptDuplicate     Prompt = "duplicate_scan"  // the same parcel again within the repeat window
	PromptAlreadyHere   Prompt = "already_here"    // that parcel is already in the locker
	PromptNoFree        Prompt = "no_free_door"    // no free compartment fits
	PromptUndone        Prompt = "undone"          // the last deposit was cancelled
	PromptNothing       Prompt = "nothing_to_do"   // nothing to undo or retrieve
	PromptNoRights      Prompt = "no_rights"       // the courier may not do that here
	PromptSessionClosed Prompt = "session_closed"  // '#' ended the session
	PromptSessionEnded  Prompt = "session_ended"   // the session ended by inactivity
	PromptHandedOver    Prompt = "handed_over"     // staffed: the right parcel was scanned
	PromptWrongParcel   Prompt = "wrong_parcel"    // staffed: not the parcel being handed over
	PromptLoginFirst    Prompt = "login_first"     // a parcel scan with no session: show a badge
	PromptBadScan       Prompt = "bad_scan"        // not a tracking number, badge or pickup QR
	PromptFinishFirst   Prompt = "finish_first"    // a pickup QR during a courier session
	PromptError         Prompt = "error"           // the station failed: try again or call staff
)

// Screen is the panel's state for a display. It never holds a code, PIN, badge token
// or tracking number: only counts, labels and masked hints.
type Screen struct {
	Mode       Mode
	Prompt     Prompt
	Digits     int           // digits typed so far: show dots
	Size       locker.Size   // courier's size for unannounced parcels; SizeUnknown: none chosen
	Slots      []locker.Slot // doors or shelves concerned
	Failed     []locker.Slot // doors that should have opened and did not
	RetryAfter time.Duration // PromptLocked, PromptChecking
	CodeLength int           // PromptCodeFormat: the fewest digits a code has (0: not known)
}

// Display shows the panel's state. Show is called from the panel's goroutine and must
// not block for long.
type Display interface {
	Show(Screen)
}

// LogDisplay is a Display that writes each screen to a log, for panels without a
// screen and until the kiosk implements one. It logs labels and counts only.
type LogDisplay struct {
	Log *slog.Logger
}

var _ Display = LogDisplay{}

// Show implements Display.
func (d LogDisplay) Show(s Screen) {
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	attrs := []slog.Attr{slog.String("mode", s.Mode.String()), slog.String("prompt", string(s.Prompt))}
	if s.Digits > 0 {
		attrs = append(attrs, slog.Int("digits", s.Digits))
	}
	if s.Size != locker.SizeUnknown {
		attrs = append(attrs, slog.String("size", s.Size.String()))
	}
	if len(s.Slots) > 0 {
		attrs = append(attrs, slog.Any("doors", labels(s.Slots)))
	}
	if len(s.Failed) > 0 {
		attrs = append(attrs, slog.Any("failed", labels(s.Failed)))
	}
	if s.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", s.RetryAfter))
	}
	if s.CodeLength > 0 {
		attrs = append(attrs, slog.Int("code_length", s.CodeLength))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "panel", attrs...)
}

func labels(slots []locker.Slot) []string {
	out := make([]string, len(slots))
	for i, s := range slots {
		out[i] = s.Label
	}
	return out
}

// Input is one key press or scan from the front-panel hardware. Scan holds a tracking
// number, a pickup-code QR or a badge token: whoever receives it wipes it after use and
// never logs it.
type Input struct {
	Source    string     // driver name
	Key       keypad.Key // a key press, when Scan is nil
	Scan      []byte     // a scan
	Symbology string     // AIM identifier of a scan, if the scanner sends one
}
