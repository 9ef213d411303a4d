package fleet

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Verification of the device MAC on events and replies (docs/protocol.md §5.3,
// docs/adr/0050-authenticated-events.md): with Config.EventKey set, a message is
// verified before anything of it is decoded, and one that fails is dropped and
// counted, never delivered.

// errNoKey means Config.EventKey knows no key for the locker: its messages cannot be
// told from forgeries, so they are dropped as unauthenticated.
var errNoKey = errors.New("fleet: no event key for this locker")

// ReplyStats counts what the client saw on the reply topics.
type ReplyStats struct {
	Messages        uint64 // reply messages that passed verification (or all, without EventKey)
	Invalid         uint64 // messages with a reply that failed to decode
	Unauthenticated uint64 // messages dropped: a missing or wrong tag, or no key for the locker
}

// tagVerifier verifies tags under each locker's event key, asking Config.EventKey once
// per locker (a key not known yet is asked for again next time).
type tagVerifier struct {
	keyOf func(lockerID string) []byte

	mu      sync.Mutex
	keys    map[string][]byte
	dropped map[string]uint64 // per locker, messages dropped so far (for the log)
}

func newTagVerifier(keyOf func(string) []byte) *tagVerifier {
	return &tagVerifier{keyOf: keyOf, keys: make(map[string][]byte), dropped: make(map[string]uint64)}
}

// shouldLog counts a message of lockerID dropped and reports whether to log it: the
// 1st, 2nd, 4th, 8th, … of each locker, so that a flood of forgeries (a compromised
// broker) cannot flood the log; the counters have every one.
func (v *tagVerifier) shouldLog(lockerID string) (bool, uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dropped[lockerID]++
	n := v.dropped[lockerID]
	return n&(n-1) == 0, n
}

// dropped counts and (see shouldLog) logs a message that failed verification.
func (c *Client) dropped(lockerID string, kind protocol.Kind, err error) {
	if kind == protocol.KindReply {
		c.replyCounts.forged.Add(1)
	} else {
		c.events.unauthenticated()
	}
	if ok, n := c.tags.shouldLog(lockerID); ok {
		c.log.Warn("message dropped: not authenticated", "locker", lockerID, "topic", string(kind), "err", err, "dropped_from_locker", n)
	}
}

// key returns the locker's event key, nil if unknown.
func (v *tagVerifier) key(lockerID string) []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k, ok := v.keys[lockerID]; ok {
		return k
	}
	k := v.keyOf(lockerID)
	if len(k) > 0 {
		v.keys[lockerID] = k
	}
	return k
}

// verify returns the message without its tag, or why it is not the locker's.
func (v *tagVerifier) verify(lockerID string, kind protocol.Kind, msg []byte) ([]byte, error) {
	if v == nil {
		return msg, nil // verification off (Config.EventKey nil)
	}
	key := v.key(lockerID)
	if key == nil {
		return nil, errNoKey
	}
	return protocol.VerifyTag(key, kind, lockerID, msg)
}

// ReplyStats returns the reply counters.
func (c *Client) ReplyStats() ReplyStats {
	v := &c.replyCounts
	return ReplyStats{Messages: v.messages.Load(), Invalid: v.invalid.Load(), Unauthenticated: v.forged.Load()}
}

// replyCounters are the counters behind ReplyStats.
type replyCounters struct {
	messages, invalid, forged atomic.Uint64
}
