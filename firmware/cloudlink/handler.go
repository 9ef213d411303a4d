package cloudlink

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/locker/privacy"
	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// commandHandler executes verified cloud commands on the station. The link calls it
// from one goroutine, after the command's id was recorded (or, see HandleAtomic, with
// the recording). Replies carry fixed details, never a value from the command or an
// error string of the station (which may name a parcel).
type commandHandler struct {
	st       *locker.Station
	drivers  func() []Driver
	boot     string
	version  string
	identity string // the device's X25519 public key, hex
	outbox   func(fallback int) int
	started  time.Time
	limit    *rateLimiter
	now      func() time.Time
	log      *slog.Logger
	floor    issuedFloor // the newest command iat seen; the link's clock reads no earlier
	// updates runs update commands (update.go), under background: the link's context.
	updates    Updates
	background context.Context
}

var _ link.Handler = (*commandHandler)(nil)

// handle executes a command with an effect; Handle orders it first (ordering.go).
func (h *commandHandler) handle(ctx context.Context, cmd *protocol.Command) link.Result {
	// Announcements and queries never come here: Atomic claims them (atomic.go).
	switch b := cmd.Parsed.(type) {
	case *protocol.SetVerifierBody:
		var v locker.Verifiers
		var legacy privacy.Digest
		for _, d := range []struct {
			dst *privacy.Digest
			src *protocol.Digest
		}{{&legacy, b.Verifier}, {&v.Code, b.CodeVerifier}, {&v.QR, b.QRVerifier}} {
			if d.src != nil {
				*d.dst = privacy.Digest(*d.src)
			}
		}
		return outcome(h.st.SetVerifier(ctx, locker.ParcelID(b.Parcel), v, legacy))
	case *protocol.CancelBody:
		return outcome(h.st.CancelParcel(ctx, locker.ParcelID(b.Parcel), locker.CommandReason("cloud", cmd.Jti)))
	case *protocol.RecallBody:
		return outcome(h.st.Recall(ctx, locker.ParcelID(b.Parcel), locker.CommandReason("cloud", cmd.Jti)))
	case *protocol.CourierUpsertBody:
		c := locker.Courier{ID: b.Courier, Badge: privacy.Digest(b.Badge), Verifier: privacy.Digest(b.Verifier)}
		for _, r := range b.Rights {
			c.Rights.Deposit = c.Rights.Deposit || r == protocol.RightDeposit
			c.Rights.Retrieve = c.Rights.Retrieve || r == protocol.RightRetrieve
		}
		return outcome(h.st.UpsertCourier(ctx, c))
	case *protocol.CourierRevokeBody:
		return outcome(h.st.RevokeCourier(ctx, b.Courier))
	case *protocol.OpenCompartmentBody:
		return h.open(ctx, cmd.Jti, b)
	case *protocol.DisableCompartmentBody:
		return outcome(h.st.SetEnabled(ctx, locker.CompartmentID(b.Compartment), false,
			locker.CommandReason("operator "+b.Operator, cmd.Jti)))
	case *protocol.EnableCompartmentBody:
		return outcome(h.st.SetEnabled(ctx, locker.CompartmentID(b.Compartment), true,
			locker.CommandReason("operator "+b.Operator, cmd.Jti)))
	case *protocol.ResolveCompartmentBody:
		return outcome(h.st.Resolve(ctx, locker.CompartmentID(b.Compartment), b.Present, b.Operator,
			locker.CommandReason("operator "+b.Operator, cmd.Jti)))
	case *protocol.PolicyBody:
		return h.policy(ctx, b)
	case *protocol.ClearThrottleBody:
		return outcome(h.st.ClearThrottle(ctx, string(b.Source), b.Operator, cmd.Jti))
	case *protocol.EraseSubjectBody:
		n, err := h.st.EraseSubject(ctx, b.Subject, locker.CommandReason("operator "+b.Operator, cmd.Jti))
		if err != nil {
			return outcome(err)
		}
		return link.Done(&protocol.EraseSubjectResult{Keys: n})
	case *protocol.TimeBody:
		return h.setTime(cmd)
	case *protocol.UpdateBody:
		return h.update(cmd, b)
	}
	return link.Refused(protocol.ReasonNotSupported, "this device does not implement the command")
}

// query answers the commands that only read.
func (h *commandHandler) query(cmd *protocol.Command) link.Result {
	switch b := cmd.Parsed.(type) {
	case *protocol.InventoryBody:
		return h.inventory()
	case *protocol.StatusBody:
		return h.status()
	case *protocol.AuditRangeBody:
		return h.auditRange(b)
	case *protocol.PingBody:
		return link.Done(&protocol.PingResult{Time: h.now().UTC(), Boot: h.boot})
	}
	return link.Refused(protocol.ReasonNotSupported, "not a query")
}

// open is a remote door opening: rate-limited per locker, audited with the operator,
// the reason and the command id. Its reply says the pulse was issued; the events
// unlocked and door_opened (or jammed) report what the door did.
func (h *commandHandler) open(ctx context.Context, id string, b *protocol.OpenCompartmentBody) link.Result {
	if !h.limit.take(h.now()) {
		h.log.Warn("remote open refused: rate limit", "compartment", int(b.Compartment))
		h.log.Debug("remote open refused: rate limit", "compartment", int(b.Compartment), "operator", b.Operator)
		return link.Refused(protocol.ReasonRateLimited, "remote openings per period exceeded")
	}
	err := h.st.OpenCompartment(ctx, locker.CompartmentID(b.Compartment), b.Operator,
		locker.CommandReason(string(b.Reason), id))
	res := outcome(err)
	if res.Status == protocol.StatusRefused {
		h.limit.give() // nothing was pulsed
	}
	return res
}

func (h *commandHandler) policy(ctx context.Context, b *protocol.PolicyBody) link.Result {
	cur := h.st.Policy()
	if int64(b.Version) <= int64(cur.Version) {
		return link.Refused(protocol.ReasonStalePolicy, "policy version not newer than the current one")
	}
	c := locker.Policy{Version: int(b.Version), Retention: protocol.Seconds(b.RetentionS),
		AnnouncedKeep: protocol.Seconds(b.AnnouncedKeepS), PurgeAfter: protocol.Seconds(b.PurgeAfterS),
		DoorOpenTimeout: protocol.Seconds(b.DoorOpenTimeoutS), LeftOpenAfter: protocol.Seconds(b.LeftOpenAfterS)}
	for _, t := range []struct {
		dst *locker.ThrottlePolicy
		src protocol.Throttle
	}{{&c.CodeThrottle, b.CodeThrottle}, {&c.CourierThrottle, b.CourierThrottle}} {
		*t.dst = locker.ThrottlePolicy{MaxFailures: t.src.MaxFailures,
			BaseDelay: protocol.Seconds(t.src.BaseDelayS), MaxDelay: protocol.Seconds(t.src.MaxDelayS)}
	}
	if e := b.CodeEntry; e != nil { // absent: WithCloud keeps the device's
		c.CodeEntry = locker.CodeEntry{MinLength: e.MinLength, Delay: protocol.Seconds(e.DelayS), AlarmFailures: e.AlarmFailures}
	}
	c.LegacyCodes = b.LegacyCodes
	p := cur.WithCloud(c) // the same values Open takes from the stored policy
	if err := p.Validate(); err != nil {
		return link.Refused(protocol.ReasonInvalidPolicy, "policy values outside what this device accepts")
	}
	err := h.st.SetPolicy(ctx, p)
	if errors.Is(err, locker.ErrState) {
		return link.Refused(protocol.ReasonStalePolicy, "policy version not newer than the current one")
	}
	return outcome(err)
}

// announcements converts an announce body; the protocol has already checked it.
func announcements(b *protocol.AnnounceBody) []locker.Announcement {
	out := make([]locker.Announcement, len(b.Parcels))
	for i, p := range b.Parcels {
		size, _ := locker.ParseSize(string(p.Size))
		a := locker.Announcement{ID: locker.ParcelID(p.Parcel), Waybill: privacy.Digest(p.Waybill),
			Size: size, Hint: p.Hint, Until: p.Expires}
		for _, v := range []struct {
			dst *privacy.Digest
			src *protocol.Digest
		}{{&a.Verifier, p.Verifier}, {&a.Code, p.CodeVerifier}, {&a.QR, p.QRVerifier}} {
			if v.src != nil {
				*v.dst = privacy.Digest(*v.src)
			}
		}
		out[i] = a
	}
	return out
}

// announceResult is done when every parcel was applied; otherwise it lists the refused
// ones with reason partial, as done when some were applied and refused when none were.
func announceResult(b *protocol.AnnounceBody, results []error) link.Result {
	var items []protocol.ItemResult
	for i, err := range results {
		if err != nil {
			item := protocol.ItemResult{Parcel: b.Parcels[i].Parcel, Status: protocol.StatusRefused, Reason: outcome(err).Reason}
			var st *staleError
			if errors.As(err, &st) {
				item.Reason, item.Revision = protocol.ReasonStale, st.current
			}
			items = append(items, item)
		}
	}
	switch {
	case len(items) == 0:
		return link.Done(nil)
	case len(items) < len(results):
		return link.Result{Status: protocol.StatusDone, Reason: protocol.ReasonPartial,
			Detail: "some parcels were refused", Body: &protocol.AnnounceResult{Items: items}}
	}
	return link.Result{Status: protocol.StatusRefused, Reason: protocol.ReasonPartial,
		Detail: "no parcel was applied", Body: &protocol.AnnounceResult{Items: items}}
}

// outcome maps a station error to a reply: refused when the station changed nothing,
// failed when something was attempted.
func outcome(err error) link.Result {
	refused := func(r protocol.Reason, d string) link.Result { return link.Refused(r, d) }
	failed := func(r protocol.Reason, d string) link.Result {
		return link.Result{Status: protocol.StatusFailed, Reason: r, Detail: d}
	}
	switch {
	case err == nil:
		return link.Done(nil)
	case errors.Is(err, locker.ErrUnknownParcel):
		return refused(protocol.ReasonNotFound, "no such parcel")
	case errors.Is(err, locker.ErrUnknownCompartment):
		return refused(protocol.ReasonNotFound, "no such compartment")
	case errors.Is(err, locker.ErrLegacyCode):
		return refused(protocol.ReasonNotSupported, "scheme-1 verifiers need the policy's legacy_codes")
	case errors.Is(err, locker.ErrConflict):
		return refused(protocol.ReasonConflict, "waybill already announced under another parcel id")
	case errors.Is(err, locker.ErrBusy):
		return refused(protocol.ReasonInvalidState, "compartment busy with another operation")
	case errors.Is(err, locker.ErrState):
		return refused(protocol.ReasonInvalidState, "not possible in the current state")
	case errors.Is(err, locker.ErrClosed):
		return refused(protocol.ReasonShuttingDown, "the device is stopping")
	case errors.Is(err, locker.ErrUnlock):
		return failed(protocol.ReasonHardware, "the lock could not be pulsed")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return failed(protocol.ReasonInternal, "interrupted")
	}
	return failed(protocol.ReasonInternal, "station error; see the device log")
}

// rateLimiter allows at most max events in any window of length per. It lives in
// memory; the cloud link seeds it at start with the remote openings the audit log holds
// for the last window, so a restart does not reset it.
type rateLimiter struct {
	mu    sync.Mutex
	max   int
	per   time.Duration
	times []time.Time
}

func newRateLimiter(max int, per time.Duration) *rateLimiter {
	return &rateLimiter{max: max, per: per}
}

// take reports whether one more event is allowed at now, and counts it if so.
func (r *rateLimiter) take(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.times[:0]
	for _, t := range r.times {
		if now.Sub(t) < r.per {
			keep = append(keep, t)
		}
	}
	r.times = keep
	if len(r.times) >= r.max {
		return false
	}
	r.times = append(r.times, now)
	return true
}

// give returns the last event taken.
func (r *rateLimiter) give() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.times); n > 0 {
		r.times = r.times[:n-1]
	}
}

// auditTo turns the protocol's "0 = newest" into an inclusive bound.
func auditTo(to uint64) uint64 {
	if to == 0 {
		return math.MaxUint64
	}
	return to
}
