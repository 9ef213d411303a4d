package link

import (
	"context"
	"errors"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Handler executes verified commands. The link calls it from one goroutine,
// one command at a time, only after the command's signature, audience, time
// window and schema were checked and its id was recorded by the CommandLog.
// Handle must return when ctx ends.
type Handler interface {
	Handle(ctx context.Context, cmd *protocol.Command) Result
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, cmd *protocol.Command) Result

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, cmd *protocol.Command) Result { return f(ctx, cmd) }

// Result is what a Handler reports. Status must be StatusDone,
// StatusRefused (nothing changed) or StatusFailed (something was attempted);
// anything else is reported as failed/internal. Reason is required unless
// done. Body, when not nil, is encoded as JSON into the reply (see
// protocol.NewResult for the shapes the cloud expects).
type Result struct {
	Status protocol.Status
	Reason protocol.Reason
	Detail string // short and free of personal data; it goes to the cloud
	Body   any
}

// Done is a convenience for a successful Result.
func Done(body any) Result { return Result{Status: protocol.StatusDone, Body: body} }

// Refused is a convenience for a Result that changed nothing.
func Refused(reason protocol.Reason, detail string) Result {
	return Result{Status: protocol.StatusRefused, Reason: reason, Detail: detail}
}

// ErrInProgress is returned by CommandLog.Begin for an id that was begun and
// never finished: the device stopped while executing it. The link answers
// such a command "outcome unknown" and never runs it again.
var ErrInProgress = errors.New("link: command was in progress when the device stopped")

// CommandLog remembers command ids durably, so that no command runs twice.
// Implementations must make Begin's record durable before returning nil
// (the real one lives in the locker store; mqtt/linktest has an in-memory
// one).
type CommandLog interface {
	// Begin records id as in progress until exp and returns (nil, nil) if
	// id is new. If id is known it records nothing and returns the stored
	// final reply, or ErrInProgress if the command never finished.
	Begin(id string, exp time.Time) (*protocol.Reply, error)
	// Finish stores the final reply of a begun command. Entries may be
	// forgotten once exp has passed, since expired commands are refused
	// before Begin.
	Finish(id string, reply protocol.Reply) error
}

// CommandStore is an optional CommandLog method: the stored state of an id, recording
// nothing. With it, a command that expired while it waited in the queue is answered
// from the log when it was a re-send of one already run, rather than "expired".
type CommandStore interface {
	// Stored returns the stored final reply of id (known, reply not nil), that id is in
	// progress (known, reply nil), or that it is unknown.
	Stored(id string) (reply *protocol.Reply, known bool, err error)
}

// ErrConflict is returned by a DigestLog for a known id whose stored body digest is
// not the one given: the id was reused for another command. The link refuses it
// ReasonConflict; nothing runs and nothing is recorded.
var ErrConflict = errors.New("link: command id already used for another command")

// DigestLog is an optional CommandLog extension that keeps, beside each id, the
// command's protocol.Command.BodyDigest, so that an id reused for another command is
// refused rather than answered with the other command's reply
// (docs/adr/0055-command-ordering-and-jti-reuse.md). With it the link calls
// BeginDigest in place of Begin and StoredDigest in place of CommandStore.Stored.
type DigestLog interface {
	// BeginDigest is Begin that also stores digest for a new id, and returns
	// ErrConflict for a known id stored with another digest. An id stored without
	// one (by a build before digests) is answered as Begin answers it. iat is the
	// command's issue time: the log keeps the newest as a floor for its clock.
	BeginDigest(id string, iat, exp time.Time, digest []byte) (*protocol.Reply, error)
	// StoredDigest is CommandStore.Stored with the same ErrConflict rule.
	StoredDigest(id string, digest []byte) (reply *protocol.Reply, known bool, err error)
}

// Outbox is the device's durable queue of events for the cloud.
type Outbox interface {
	// Pending returns up to max events with seq > afterSeq, in seq order.
	Pending(afterSeq uint64, max int) ([]protocol.Event, error)
	// Ack removes the event with this seq. The link calls it only after the
	// broker acknowledged the publish (PUBACK), and in seq order.
	Ack(seq uint64) error
	// Wake returns a channel that receives (or is closed) when events are
	// added, so the link need not poll.
	Wake() <-chan struct{}
}

// AtomicHandler is a Handler that can also execute commands with no physical effect
// (an announcement, a query) and record them in the CommandLog in one durable step:
// the effect and the id with its final reply become durable together or not at all.
// A crash before that step means the command never happened, so a redelivery runs
// it afresh, which is correct; no "accepted" reply is sent for such commands. The
// link hands it runs of consecutive atomic commands, so that one durable write can
// cover many (group commit); commands with a physical effect take the
// Begin/Handle/Finish path, where the id is durable before anything moves.
type AtomicHandler interface {
	Handler
	// Atomic reports whether cmd may be executed by HandleAtomic.
	Atomic(cmd *protocol.Command) bool
	// HandleAtomic executes cmds in order and records each with the reply finish
	// makes of its result, in one durable transaction or in several, in order. It
	// returns one Outcome per command. Handle's rules apply: one goroutine, return
	// when ctx ends.
	HandleAtomic(ctx context.Context, cmds []*protocol.Command, finish func(i int, res Result) protocol.Reply) []Outcome
}

// Outcome is what HandleAtomic reports for one command.
type Outcome struct {
	// Reply is the final reply: the new one, or for a known id the stored one.
	Reply protocol.Reply
	// Encoded, when not empty, is Reply as protocol.EncodeReply encodes it (the
	// handler encoded it to store it): the link publishes these bytes as they are.
	Encoded []byte
	// Known says the id was already recorded: Reply is the stored reply, nothing ran.
	Known bool
	// Err is ErrInProgress for an id found in progress after a restart, ErrConflict
	// for an id recorded for another command (nothing ran), or why the
	// command could not be executed and recorded (then nothing of it is durable).
	Err error
}
