package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/lockerd/lockerd/mqtt/jws"
	"github.com/lockerd/lockerd/mqtt/protocol"
)

// Command is a signed command ready to publish. Token holds the exact bytes
// to send, and to send again on retry: the locker de-duplicates by ID and
// answers with the Ref of the bytes it received.
type Command struct {
	ID       string
	LockerID string
	Type     protocol.CommandType
	Expires  time.Time
	Token    []byte
	Ref      string // protocol.CommandRef(Token)
}

// ReplyError is returned by Do when a command's final reply is not done.
type ReplyError struct {
	Reply *protocol.Reply
}

// Error implements error.
func (e *ReplyError) Error() string {
	msg := fmt.Sprintf("fleet: command %s %s: %s", e.Reply.ID, e.Reply.Status, e.Reply.Reason)
	if e.Reply.Detail != "" {
		msg += " (" + e.Reply.Detail + ")"
	}
	return msg
}

// NewCommand signs body as a command for lockerID with a fresh random id,
// issued now and expiring after Config.CommandTTL.
func (c *Client) NewCommand(lockerID string, body protocol.Body) (*Command, error) {
	return c.NewCommandAt(lockerID, newID(), body, c.cfg.Now(), c.cfg.CommandTTL)
}

// NewCommandAt is NewCommand with the id, issue time and lifetime chosen by
// the caller (tests, and clouds that derive ids from their own records).
func (c *Client) NewCommandAt(lockerID, id string, body protocol.Body, iat time.Time, ttl time.Duration) (*Command, error) {
	if c.cfg.SigningKey == nil {
		return nil, fmt.Errorf("%w: no SigningKey, this client cannot send commands", ErrConfig)
	}
	return Sign(c.cfg.SigningKey, c.cfg.KeyID, lockerID, id, body, iat, iat.Add(ttl))
}

// Sign builds and signs a command without a Client.
func Sign(key ed25519.PrivateKey, kid, lockerID, id string, body protocol.Body, iat, exp time.Time) (*Command, error) {
	claims, err := protocol.EncodeCommand(lockerID, id, body, iat, exp)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	tok, err := jws.Sign(key, kid, claims)
	if err != nil {
		return nil, fmt.Errorf("fleet: sign: %w", err)
	}
	return &Command{
		ID: id, LockerID: lockerID, Type: body.Type(), Expires: time.Unix(exp.Unix(), 0),
		Token: tok, Ref: protocol.CommandRef(tok),
	}, nil
}

// Publish sends cmd once, QoS 1, and waits for the broker's PUBACK. It does
// not wait for the locker's reply (see Send).
func (c *Client) Publish(cmd *Command) error {
	tok := c.client.Publish(c.cfg.Topics.Command(cmd.LockerID), 1, false, cmd.Token)
	if !tok.WaitTimeout(c.cfg.Timeout) {
		return fmt.Errorf("fleet: publish %s: no PUBACK within %v", cmd.ID, c.cfg.Timeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("fleet: publish %s: %w", cmd.ID, err)
	}
	return nil
}

// Send publishes cmd and waits for its final reply, re-sending the same
// bytes every ResendAfter until one arrives, the command expires
// (ErrExpired) or ctx ends (ErrNoReply). A refusal "busy" or "shutting_down" is
// no final reply: it answers one copy, while another may still be queued and run,
// so Send goes on re-sending. accepted, if not nil, is called
// when the locker reports the command accepted. A reply that carries the
// command's id but not its Ref answers other bytes (a forgery reusing the
// id, or an older token) and is ignored.
func (c *Client) Send(ctx context.Context, cmd *Command, accepted func(*protocol.Reply)) (*protocol.Reply, error) {
	key := cmd.LockerID + "/" + cmd.ID
	ch := make(chan *protocol.Reply, 8)
	c.waitMu.Lock()
	if _, busy := c.waiters[key]; busy {
		c.waitMu.Unlock()
		return nil, fmt.Errorf("fleet: command %s is already being sent", cmd.ID)
	}
	c.waiters[key] = ch
	c.waitMu.Unlock()
	defer func() {
		c.waitMu.Lock()
		delete(c.waiters, key)
		c.waitMu.Unlock()
	}()

	if err := c.Publish(cmd); err != nil {
		c.log.Warn("command publish failed; will re-send", "id", cmd.ID, "err", err)
	}
	resend := time.NewTicker(c.cfg.ResendAfter)
	defer resend.Stop()
	expiry := time.NewTimer(cmd.Expires.Sub(c.cfg.Now()))
	defer expiry.Stop()
	for {
		select {
		case r := <-ch:
			if r.Ref != cmd.Ref {
				c.log.Warn("reply for other bytes with the same id ignored", "id", cmd.ID, "status", r.Status, "reason", r.Reason)
				continue
			}
			if !r.Status.Final() {
				if accepted != nil {
					accepted(r)
				}
				continue
			}
			if r.Status == protocol.StatusRefused && (r.Reason == protocol.ReasonBusy || r.Reason == protocol.ReasonShuttingDown) {
				// This copy found the queue full or the device stopping; an earlier
				// copy of the same bytes may still be queued and run. Not an answer:
				// send again later, as the protocol says (§4.2).
				c.log.Info("command deferred by the locker; will re-send", "id", cmd.ID, "reason", r.Reason)
				continue
			}
			return r, nil
		case <-resend.C:
			if err := c.Publish(cmd); err != nil {
				c.log.Warn("command re-send failed", "id", cmd.ID, "err", err)
			}
		case <-expiry.C:
			return nil, fmt.Errorf("%w: %s", ErrExpired, cmd.ID)
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %s: %w", ErrNoReply, cmd.ID, ctx.Err())
		}
	}
}

// Do signs body for lockerID, sends it and waits for the final reply. It
// returns the reply, and a *ReplyError unless the status is done.
func (c *Client) Do(ctx context.Context, lockerID string, body protocol.Body) (*protocol.Reply, error) {
	cmd, err := c.NewCommand(lockerID, body)
	if err != nil {
		return nil, err
	}
	r, err := c.Send(ctx, cmd, nil)
	if err != nil {
		return nil, err
	}
	if r.Status != protocol.StatusDone {
		return r, &ReplyError{Reply: r}
	}
	return r, nil
}

// IsStatus reports whether err is a *ReplyError with the given status.
func IsStatus(err error, s protocol.Status) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Reply.Status == s
}

// newID returns 128 random bits in hex: unique without coordination.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("fleet: crypto/rand failed: " + err.Error()) // cannot happen on supported platforms
	}
	return hex.EncodeToString(b[:])
}
