package linktest

import (
	"context"
	"slices"
	"sync"

	"github.com/lockerd/lockerd/mqtt/link"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// AtomicHandler is a link.AtomicHandler for tests: the command types in Types are
// executed by Handler and recorded in Log in one step (atomically, since both are in
// memory); the others take the link's Begin/Handle/Finish path through Handler.
type AtomicHandler struct {
	*Handler
	Log   *CommandLog
	Types []protocol.CommandType

	mu   sync.Mutex
	runs []int
}

var _ link.AtomicHandler = (*AtomicHandler)(nil)

// Atomic implements link.AtomicHandler.
func (h *AtomicHandler) Atomic(cmd *protocol.Command) bool { return slices.Contains(h.Types, cmd.Typ) }

// HandleAtomic implements link.AtomicHandler.
func (h *AtomicHandler) HandleAtomic(ctx context.Context, cmds []*protocol.Command, finish func(int, link.Result) protocol.Reply) []link.Outcome {
	h.mu.Lock()
	h.runs = append(h.runs, len(cmds))
	h.mu.Unlock()
	out := make([]link.Outcome, len(cmds))
	for i, cmd := range cmds {
		prior, err := h.Log.Begin(cmd.Jti, cmd.ExpiresAt())
		switch {
		case err != nil:
			out[i] = link.Outcome{Known: true, Err: err}
		case prior != nil:
			out[i] = link.Outcome{Reply: *prior, Known: true}
		default:
			r := finish(i, h.Handle(ctx, cmd))
			if err := h.Log.Finish(cmd.Jti, r); err != nil {
				out[i].Err = err
				continue
			}
			out[i].Reply = r
		}
	}
	return out
}

// Runs returns the number of commands in each HandleAtomic call, in order.
func (h *AtomicHandler) Runs() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.runs)
}
