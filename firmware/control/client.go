package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/lockerd/lockerd/locker"
)

// Client talks to a lockerd control socket.
type Client struct {
	hc *http.Client
}

// NewClient returns a client for the Unix socket at path. Every call has the context's
// deadline or, without one, a 10 s ceiling.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 4,
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://lockerd"+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return decodeAnswer(method, path, resp.StatusCode, data, out)
}

// maxAnswer bounds the body of an answer the client reads.
const maxAnswer = 4 << 20

// decodeAnswer turns an answer's status and body into out (2xx) or an *Error.
func decodeAnswer(method, path string, status int, data []byte, out any) error {
	if status/100 != 2 {
		var er ErrorReply
		if json.Unmarshal(data, &er) != nil || er.Reason == "" {
			return &Error{Status: status, Reason: "http", Message: fmt.Sprintf("control: %s %s: HTTP %d", method, path, status)}
		}
		// A delay below zero or past what a Duration holds is no delay to honour as is.
		ms := min(max(er.RetryAfterMS, 0), int64(math.MaxInt64/time.Millisecond))
		return &Error{Status: status, Reason: er.Reason, Message: er.Error, RetryAfter: time.Duration(ms) * time.Millisecond}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("control: %s %s: reply: %w", method, path, err)
	}
	return nil
}

// Pickup enters a recipient's code alone: a scheme-1 (legacy) code, which the station
// takes only while its policy's legacy_codes is set. PickupCode takes the phone digits.
func (c *Client) Pickup(ctx context.Context, code string) (locker.Pickup, error) {
	return c.PickupCode(ctx, code, "")
}

// PickupCode enters a recipient's code and their phone's last four digits (ADR 0046).
func (c *Client) PickupCode(ctx context.Context, code, phone string) (locker.Pickup, error) {
	var p locker.Pickup
	return p, c.call(ctx, "POST", PathPickup, CodeRequest{Code: code, Phone: phone}, &p)
}

// PickupQR enters the secret of a recipient's pickup QR (what follows "LKQ:").
func (c *Client) PickupQR(ctx context.Context, secret string) (locker.Pickup, error) {
	var p locker.Pickup
	return p, c.call(ctx, "POST", PathPickup, CodeRequest{QR: secret}, &p)
}

// Login opens a courier session.
func (c *Client) Login(ctx context.Context, badge, pin string) (string, error) {
	var r LoginReply
	err := c.call(ctx, "POST", PathLogin, LoginRequest{Badge: badge, PIN: pin}, &r)
	return r.Session, err
}

// Scan deposits a parcel in a courier session; size may be "" for announced parcels.
func (c *Client) Scan(ctx context.Context, session, scan, size string) (locker.Slot, error) {
	var s locker.Slot
	return s, c.call(ctx, "POST", PathScan, ScanRequest{Session: session, Scan: scan, Size: size}, &s)
}

// Cancel undoes the session's last deposit.
func (c *Client) Cancel(ctx context.Context, session string) error {
	return c.call(ctx, "POST", PathCancel, SessionRequest{Session: session}, nil)
}

// Retrieve opens the doors of expired and recalled parcels for a courier.
func (c *Client) Retrieve(ctx context.Context, session string) ([]locker.Slot, error) {
	var r SlotsReply
	return r.Slots, c.call(ctx, "POST", PathRetrieve, SessionRequest{Session: session}, &r)
}

// Logout ends a courier session.
func (c *Client) Logout(ctx context.Context, session string) error {
	return c.call(ctx, "POST", PathLogout, SessionRequest{Session: session}, nil)
}

// Handover confirms a staffed-station handover by scanning the parcel: id is the
// code entry's (Pickup.Handover).
func (c *Client) Handover(ctx context.Context, id, scan string) (locker.Slot, error) {
	var s locker.Slot
	return s, c.call(ctx, "POST", PathHandover, ScanRequest{Handover: id, Scan: scan}, &s)
}

// Status returns the station summary.
func (c *Client) Status(ctx context.Context) (locker.Status, error) {
	var s locker.Status
	return s, c.call(ctx, "GET", PathStatus, nil, &s)
}

// Inventory returns every compartment.
func (c *Client) Inventory(ctx context.Context) ([]locker.CompartmentView, error) {
	var v []locker.CompartmentView
	return v, c.call(ctx, "GET", PathInv, nil, &v)
}

// Identity returns the locker id and device public key.
func (c *Client) Identity(ctx context.Context) (IdentityReply, error) {
	var r IdentityReply
	return r, c.call(ctx, "GET", PathIdentity, nil, &r)
}

// Announce sends announcements (admin endpoint).
func (c *Client) Announce(ctx context.Context, parcels []Announcement) (AnnounceReply, error) {
	var r AnnounceReply
	return r, c.call(ctx, "POST", PathAnnounce, AnnounceRequest{Parcels: parcels}, &r)
}

// UpsertCourier stores a courier credential (admin endpoint).
func (c *Client) UpsertCourier(ctx context.Context, req CourierRequest) error {
	return c.call(ctx, "POST", PathCourier, req, nil)
}

// Resolve settles an unverified compartment (admin endpoint).
func (c *Client) Resolve(ctx context.Context, req ResolveRequest) error {
	return c.call(ctx, "POST", PathResolve, req, nil)
}

// Drivers returns the state of every hardware driver.
func (c *Client) Drivers(ctx context.Context) ([]DriverStatus, error) {
	var d []DriverStatus
	return d, c.call(ctx, "GET", PathDrivers, nil, &d)
}
