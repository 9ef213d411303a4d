package config

import (
	"cmp"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/jws"
)

// FieldError is one problem with one field.
type FieldError struct {
	Path string // e.g. compartments[3].door.driver
	Line int    // 0 when the field is absent from the file
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("config: line %d: %s", e.Line, e.Msg)
	}
	if e.Line > 0 {
		return fmt.Sprintf("config: %s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("config: %s: %s", e.Path, e.Msg)
}

type validator struct {
	root *yaml.Node
	errs []error
}

// line finds the line of a dotted path with [i] indexes in the YAML tree; for a missing
// field it returns the line of the nearest parent that exists.
func (v *validator) line(path string) int {
	// A key missing at the top has no line: the document's first line is some other
	// key's.
	n, line := v.root, 0
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			name = part[:i]
			idx, _ = strconv.Atoi(part[i+1 : len(part)-1])
		}
		if name != "" {
			if n == nil || n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					next, line = n.Content[i+1], n.Content[i].Line
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		}
		if idx >= 0 {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n, line = n.Content[idx], n.Content[idx].Line
		}
	}
	return line
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Line: v.line(path), Msg: fmt.Sprintf(format, args...)})
}

// lockerIDPattern keeps ids safe as MQTT topic levels and file names.
var lockerIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) validate(root *yaml.Node) error {
	v := &validator{root: root}
	if c.LockerID == "" {
		v.fail("locker_id", "required: the locker's id, such as LK-0001")
	} else if !lockerIDPattern.MatchString(c.LockerID) {
		v.fail("locker_id", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if c.StateDir == "" || !filepath.IsAbs(c.StateDir) {
		v.fail("state_dir", "must be an absolute path")
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		v.fail("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		v.fail("log.format", "must be json or text, not %q", c.Log.Format)
	}
	checkKey(v, "fleet.x25519_public", c.Fleet.X25519Public, true)
	if checkKey(v, "fleet.ed25519_public", c.Fleet.Ed25519Public, false) {
		b, _ := hex.DecodeString(c.Fleet.Ed25519Public)
		if _, err := jws.NewKeys(ed25519.PublicKey(b)); err != nil {
			v.fail("fleet.ed25519_public", "not a usable signing key: %s", strings.TrimPrefix(err.Error(), "jws: invalid key: public key 0: "))
		}
	}
	if c.Metrics.Listen != "" && !LoopbackAddr(c.Metrics.Listen) {
		v.fail("metrics.listen", "must be a loopback host:port such as 127.0.0.1:9464, not %q: the page has no authentication; scrape it with an agent on the locker", c.Metrics.Listen)
	}
	if c.Control.Socket != "" && !filepath.IsAbs(c.Control.Socket) {
		v.fail("control.socket", "must be an absolute path")
	}
	if c.Control.Admin && c.MQTT.Enabled() && strings.TrimSpace(c.Control.AdminOverride) == "" {
		v.fail("control.admin", "refused while mqtt.broker is set: with a cloud link the cloud announces parcels and couriers, and a second, local source on the control socket is a way around its signed, audited commands. Remove control.admin, or set control.admin_override to the reason (it is logged at every start)")
	}
	if c.Control.AdminOverride != "" && !c.Control.Admin {
		v.fail("control.admin_override", "only means something with control.admin: true")
	}
	if len(c.Control.AdminOverride) > 200 || strings.ContainsFunc(c.Control.AdminOverride, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		v.fail("control.admin_override", "at most 200 bytes on one line")
	}
	v.kiosk(c.Kiosk)
	switch c.Keys {
	case "", KeysFile, KeysTPM:
	default:
		v.fail("keys", "must be file or tpm, not %q", c.Keys)
	}
	if c.TPM.Device != "" {
		if c.KeyStore() != KeysTPM {
			v.fail("tpm.device", "only means something with keys: tpm")
		}
		if !filepath.IsAbs(c.TPM.Device) {
			v.fail("tpm.device", "must be an absolute path (default %s)", DefaultTPMDevice)
		}
	}
	if c.MemoryLimitMiB != 0 && (c.MemoryLimitMiB < 32 || c.MemoryLimitMiB > 4096) {
		v.fail("memory_limit_mib", "must be 32..4096 (MiB), below the unit's MemoryMax; 0 or absent: %d", DefaultMemoryLimitMiB)
	}
	v.policy(&c.Policy)
	// The rules the station enforces at start (epoch_length >= 1h, base_delay <=
	// max_delay once defaults fill the gaps, ...): check says what run would refuse.
	sp := c.Policy.Station()
	if err := sp.Validate(); err != nil {
		v.fail("policy", "%s", strings.TrimPrefix(err.Error(), "locker: policy "))
	}
	if idle := cmp.Or(c.Hardware.Panel.Idle, panel.DefaultPanelIdle); idle > sp.SessionIdle {
		v.fail("hardware.panel.idle", "%s is longer than policy.session_idle (%s): the station would end the courier's session first", idle, sp.SessionIdle)
	}
	v.compartments(c.Compartments, v.hardware(&c.Hardware))
	v.update(c)
	return errors.Join(v.errs...)
}

// checkKey checks a hex public key field and reports whether it holds 32 bytes.
func checkKey(v *validator, path, s string, required bool) bool {
	if s == "" {
		if required {
			v.fail(path, "required: the fleet's public key, 64 hex digits")
		}
		return false
	}
	if b, err := hex.DecodeString(s); err != nil || len(b) != 32 {
		v.fail(path, "must be 64 hex digits (a 32-byte public key)")
		return false
	}
	if rfc, ok := publishedKeys[strings.ToLower(s)]; ok {
		v.fail(path, "a published test key (%s) whose private half anyone has: pin your fleet's key (lockerctl keygen prints it)", rfc)
		return false
	}
	if placeholderKeys[strings.ToLower(s)] {
		v.fail(path, "the example config's placeholder, which belongs to no fleet: pin your fleet's key (lockerctl keygen prints it)")
		return false
	}
	return true
}

// publishedKeys are public keys of test vectors whose private keys are printed in
// the RFCs: examples copied from the web carry them, and a locker pinning one would
// obey anybody's commands or derive its digests from a key anybody knows.
var publishedKeys = map[string]string{
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a": "RFC 8032 §7.1 test 1",
	"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c": "RFC 8032 §7.1 test 2",
	"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025": "RFC 8032 §7.1 test 3",
	"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a": "RFC 7748 §6.1, Alice",
	"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f": "RFC 7748 §6.1, Bob",
}

// placeholderKeys are the fleet keys of the example configs (firmware/config/testdata,
// installed as /etc/lockerd/lockerd.yaml, and docs/hardware.md): nobody holds their
// private halves, so a locker left with them would obey no command and derive digests
// that no cloud can match. check refuses the example until it is edited.
var placeholderKeys = map[string]bool{
	"af108f866cd33f60a564847ba4fde6a7e53bc41f0593b88b2bba948eac88741f": true,
	"ccb0b75de9c7cd9a9f5579de2264d685f9a2d23fe8944ac2f0e1aaade6193e21": true,
}

func (v *validator) policy(p *Policy) {
	for name, d := range map[string]int64{
		"retention": int64(p.Retention), "announced_keep": int64(p.AnnouncedKeep),
		"purge_after": int64(p.PurgeAfter), "epoch_length": int64(p.EpochLength),
		"door_open_timeout": int64(p.DoorOpenTimeout), "left_open_after": int64(p.LeftOpenAfter),
		"session_idle": int64(p.SessionIdle), "handover_timeout": int64(p.HandoverTimeout),
		"duplicate_scan_window": int64(p.DuplicateScanWindow), "audit_keep": int64(p.AuditKeep),
	} {
		if d < 0 {
			v.fail("policy."+name, "must not be negative")
		}
	}
	if p.AuditKeep > 0 && p.AuditKeep < 24*time.Hour {
		v.fail("policy.audit_keep", "must be at least 24h (the audit log is for incidents days later)")
	}
	if ce := p.CodeEntry; ce.MinLength != 0 && (ce.MinLength < locker.MinCodeLength || ce.MinLength > locker.MaxCodeLength) {
		v.fail("policy.code_entry.min_length", "must be %d..%d digits", locker.MinCodeLength, locker.MaxCodeLength)
	}
	if d := p.CodeEntry.Delay; d != 0 && (d < locker.MinCodeDelay || d > locker.MaxCodeDelay || d%time.Second != 0) {
		v.fail("policy.code_entry.delay", "must be whole seconds in %v..%v", locker.MinCodeDelay, locker.MaxCodeDelay)
	}
	if n := p.CodeEntry.AlarmFailures; n < 0 || n > locker.MaxAlarmFailures {
		v.fail("policy.code_entry.alarm_failures", "must be 1..%d", locker.MaxAlarmFailures)
	}
	for name, t := range map[string]Throttle{"code_throttle": p.CodeThrottle, "courier_throttle": p.CourierThrottle} {
		if t.MaxFailures < 0 || t.MaxFailures > 20 {
			v.fail("policy."+name+".max_failures", "must be 1..20 (NIST SP 800-63B caps consecutive failures at 100)")
		}
		if t.BaseDelay < 0 || t.MaxDelay < 0 || (t.MaxDelay > 0 && t.BaseDelay > t.MaxDelay) {
			v.fail("policy."+name, "needs 0 < base_delay <= max_delay")
		}
	}
}

func (v *validator) compartments(cs []Compartment, hw *hwCheck) {
	if len(cs) == 0 {
		v.fail("compartments", "at least one compartment")
	}
	ids := map[int]bool{}
	addrs := map[string]int{}
	for i, c := range cs {
		p := fmt.Sprintf("compartments[%d]", i)
		if c.ID < 1 || c.ID > 65535 {
			v.fail(p+".id", "must be 1..65535")
		} else if ids[c.ID] {
			v.fail(p+".id", "duplicate compartment id %d", c.ID)
		}
		ids[c.ID] = true
		switch c.Size {
		case "S", "M", "L", "XL":
		default:
			v.fail(p+".size", "must be S, M, L or XL, not %q", c.Size)
		}
		switch c.Kind {
		case "", "door":
			hw.door(p+".door", c.ID, c.Door, addrs)
		case "shelf":
			if c.Capacity < 1 {
				v.fail(p+".capacity", "a shelf needs a capacity of at least 1")
			}
			if c.Door != (Door{}) {
				v.fail(p+".door", "a shelf has no door")
			}
		default:
			v.fail(p+".kind", "must be door or shelf, not %q", c.Kind)
		}
	}
}
