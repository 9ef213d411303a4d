package control

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Rights is what a peer on the control socket may call (ADR 0048).
type Rights int

const (
	// RightsPanel is the front panel's share: code entry, courier sessions, handover,
	// status and the drivers' state. The kiosk screen and the keypad service get it.
	RightsPanel Rights = iota + 1
	// RightsFull is every endpoint the server has (the admin endpoints only with
	// control.admin): root and lockerd's own user.
	RightsFull
)

func (r Rights) String() string {
	switch r {
	case RightsFull:
		return "full"
	case RightsPanel:
		return "panel"
	}
	return "none"
}

// panelPaths are the endpoints a RightsPanel peer may call; anything else is refused
// with 403 and reason "forbidden", whether or not the endpoint exists.
var panelPaths = map[string]bool{
	PathPickup: true, PathLogin: true, PathScan: true, PathCancel: true, PathRetrieve: true,
	PathLogout: true, PathHandover: true, PathStatus: true, PathDrivers: true,
}

// ErrForbidden is the refusal of an endpoint the caller's rights do not include
// (reason "forbidden", HTTP 403).
var ErrForbidden = errors.New("control: not allowed for this caller")

// peer is what the server knows of the process at the other end of a connection.
type peer struct {
	uid, pid int
	known    bool // SO_PEERCRED answered
	rights   Rights
}

type peerKey struct{}

// unknownPeer is a peer whose credentials are not known (not read, or a request that
// did not come through Serve): panel rights.
var unknownPeer = peer{uid: -1, pid: -1, rights: RightsPanel}

// PanelUIDs names the uids that get panel rights only, even root or lockerd's own user
// (control.panel_uids: to rehearse the kiosk's rights, and for tests, which cannot
// change their uid). Every other peer than root and lockerd's user gets panel rights
// anyway.
func (s *Server) PanelUIDs(uids []uint32) { s.panelUIDs = slices.Clone(uids) }

// rightsOf maps a peer's uid to its rights.
func (s *Server) rightsOf(uid uint32) Rights {
	if slices.Contains(s.panelUIDs, uid) {
		return RightsPanel
	}
	if uid == 0 || uid == uint32(os.Geteuid()) {
		return RightsFull
	}
	return RightsPanel
}

// connContext reads the peer's credentials (SO_PEERCRED: the uid and pid of the
// process that connected, as the kernel saw them at connect) once per connection.
// A connection whose credentials cannot be read gets panel rights.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	p := unknownPeer
	if uc, ok := c.(*net.UnixConn); ok {
		if cred, err := peerCred(uc); err == nil {
			p = peer{uid: int(cred.Uid), pid: int(cred.Pid), known: true, rights: s.rightsOf(cred.Uid)}
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

func peerCred(uc *net.UnixConn) (*unix.Ucred, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// peerOf is the peer of a request; a request that did not come through Serve (no
// credentials) has panel rights.
func peerOf(ctx context.Context) peer {
	if p, ok := ctx.Value(peerKey{}).(peer); ok {
		return p
	}
	return unknownPeer
}

// withRights gives a request the rights of a peer, for tests that call ServeHTTP.
func withRights(ctx context.Context, r Rights) context.Context {
	p := unknownPeer
	p.rights = r
	return context.WithValue(ctx, peerKey{}, p)
}
