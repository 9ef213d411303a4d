// Package config reads and validates lockerd's YAML configuration. Every error names the
// field by its path (compartments[3].size) and, where the file has it, the line, so an
// installer can fix a config on site without reading code.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxSize bounds a config file: anything larger is not a config.
const MaxSize = 1 << 20

// Config is lockerd's whole configuration.
type Config struct {
	LockerID     string        `yaml:"locker_id"`
	StateDir     string        `yaml:"state_dir"`
	Log          Log           `yaml:"log"`
	Fleet        Fleet         `yaml:"fleet"`
	Policy       Policy        `yaml:"policy"`
	Control      Control       `yaml:"control"`
	Kiosk        Kiosk         `yaml:"kiosk"`
	Compartments []Compartment `yaml:"compartments"`
	Hardware     Hardware      `yaml:"hardware"`
	MQTT         MQTT          `yaml:"mqtt,omitempty"`
	// Keys names where the device secrets live (docs/adr/0047-device-keys-in-a-tpm.md):
	// KeysFile (the default: on the card, for development and the simulator) or
	// KeysTPM (a TPM 2.0 at TPM.Device).
	Keys string `yaml:"keys,omitempty"`
	TPM  TPM    `yaml:"tpm,omitempty"`

	root *yaml.Node // the parsed document, for the lines of Problem
	// MemoryLimitMiB is the Go runtime's soft memory limit (debug.SetMemoryLimit), in
	// MiB; 0 means DefaultMemoryLimitMiB. GOMEMLIMIT in the environment wins. It stays
	// below the unit's MemoryMax so that the collector works harder before the kernel
	// kills the process.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
	// Metrics serves Prometheus metrics (docs/config.md, `metrics`).
	Metrics Metrics `yaml:"metrics,omitempty"`
	// Update configures signed updates (update.go).
	Update Update `yaml:"update,omitempty"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is a loopback host:port for GET /metrics, e.g. 127.0.0.1:9464; empty
	// (the default) serves none. The page has no authentication: an agent on the
	// locker scrapes it and forwards.
	Listen string `yaml:"listen,omitempty"`
}

// The key stores `keys:` names.
const (
	KeysFile = "file"
	KeysTPM  = "tpm"
)

// DefaultTPMDevice is the TPM device when tpm.device is not set: the kernel's
// resource-managed TPM (an SPI module such as the Infineon SLB9670 on a Pi).
const DefaultTPMDevice = "/dev/tpmrm0"

// TPM configures the TPM of keys: tpm.
type TPM struct {
	Device string `yaml:"device,omitempty"` // default DefaultTPMDevice
}

// KeyStore is the key store the config names, KeysFile when it names none.
func (c *Config) KeyStore() string {
	if c.Keys == "" {
		return KeysFile
	}
	return c.Keys
}

// TPMDevice is tpm.device, or its default.
func (c *Config) TPMDevice() string {
	if c.TPM.Device == "" {
		return DefaultTPMDevice
	}
	return c.TPM.Device
}

// DefaultMemoryLimitMiB is the soft memory limit when the config names none: three
// quarters of the unit's MemoryMax=256M.
const DefaultMemoryLimitMiB = 192

// MemoryLimit is the soft memory limit in bytes.
func (c *Config) MemoryLimit() int64 {
	mib := c.MemoryLimitMiB
	if mib == 0 {
		mib = DefaultMemoryLimitMiB
	}
	return int64(mib) << 20
}

// Log selects the log level and format.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // json (default, for the journal) or text
}

// Fleet pins the keys of the fleet this locker belongs to. The cloud never sends
// secrets: the locker derives its digest keys from its own private key and the fleet's
// X25519 public key, and trusts commands signed by the fleet's Ed25519 key.
type Fleet struct {
	X25519Public  string `yaml:"x25519_public"`  // 64 hex digits
	Ed25519Public string `yaml:"ed25519_public"` // 64 hex digits; needed by the cloud link
}

// Policy overrides the station's default timing and retention rules. Zero fields keep
// the defaults (locker.DefaultPolicy).
type Policy struct {
	Retention           time.Duration `yaml:"retention"`
	AnnouncedKeep       time.Duration `yaml:"announced_keep"`
	PurgeAfter          time.Duration `yaml:"purge_after"`
	EpochLength         time.Duration `yaml:"epoch_length"`
	AuditKeep           time.Duration `yaml:"audit_keep"` // audit entries are pruned after this (default a year)
	CodeEntry           CodeEntry     `yaml:"code_entry"`
	CodeThrottle        Throttle      `yaml:"code_throttle"`
	CourierThrottle     Throttle      `yaml:"courier_throttle"`
	DoorOpenTimeout     time.Duration `yaml:"door_open_timeout"`
	LeftOpenAfter       time.Duration `yaml:"left_open_after"`
	SessionIdle         time.Duration `yaml:"session_idle"`
	HandoverTimeout     time.Duration `yaml:"handover_timeout"`
	DuplicateScanWindow time.Duration `yaml:"duplicate_scan_window"`
}

// CodeEntry overrides the keypad guessing budget (docs/adr/0046-keypad-guessing-budget.md).
type CodeEntry struct {
	MinLength     int           `yaml:"min_length"`
	Delay         time.Duration `yaml:"delay"`
	AlarmFailures int           `yaml:"alarm_failures"`
}

// Throttle overrides a failure throttle.
type Throttle struct {
	MaxFailures int           `yaml:"max_failures"`
	BaseDelay   time.Duration `yaml:"base_delay"`
	MaxDelay    time.Duration `yaml:"max_delay"`
}

// Control is the local API that the front panel (kiosk, keypad service) and the
// installer's tools use. It listens on a Unix socket only.
type Control struct {
	Socket string `yaml:"socket"` // default <state_dir>/control.sock
	// Admin enables the provisioning endpoints (announce, courier upsert, resolve) on
	// the socket, for commissioning and tests before the cloud link is set up. Off by
	// default, and refused while an mqtt section is configured unless AdminOverride
	// says why (the cloud is then the one source of parcels and couriers).
	Admin bool `yaml:"admin"`
	// AdminOverride is the reason for admin endpoints beside a cloud link; lockerd logs
	// it at start.
	AdminOverride string `yaml:"admin_override"`
	// PanelUIDs are uids that get the front panel's rights only (ADR 0048), even root
	// or lockerd's own user: to rehearse the kiosk's rights, and for tests. Every uid
	// other than root and lockerd's gets those rights anyway.
	PanelUIDs []uint32 `yaml:"panel_uids"`
}

// Compartment maps one compartment to its place on the hardware.
type Compartment struct {
	ID       int    `yaml:"id"`
	Label    string `yaml:"label"`
	Size     string `yaml:"size"` // S, M, L, XL
	Kind     string `yaml:"kind"` // door (default) or shelf
	Capacity int    `yaml:"capacity"`
	Door     Door   `yaml:"door"`
}

// Load reads, decodes and validates the config file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, MaxSize)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a config document. Unknown keys are errors: a typo in a
// key must not silently fall back to a default. Every problem is reported at once, each
// a *FieldError in an errors.Join, except a syntax error, after which nothing can be
// read.
func Parse(data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(data, err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("config: empty document")
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, &FieldError{Line: doc.Line, Msg: "want a section of keys (locker_id: ..., state_dir: ...), got " + describe(doc)}
	}
	w := &schemaWalk{}
	w.walk(doc, reflect.TypeFor[Config](), "")
	var c Config
	if len(w.errs) == 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil {
			// Something the schema walk let through: the library's words, at least.
			return nil, fmt.Errorf("config: %w", err)
		}
	} else {
		// What does decode, for the rules below: every problem at once. The library's
		// own errors are the walk's, already worded.
		_ = doc.Decode(&c)
	}
	c.root = doc
	errs := make([]error, 0, len(w.errs))
	for _, e := range w.errs {
		errs = append(errs, e)
	}
	for _, e := range unjoin(errors.Join(c.validate(doc), c.validateMQTT(doc))) {
		// A value the walk refused decoded as its zero, and a misspelt key left the
		// one it meant empty: the rules would only say again, less well, what the
		// walk said.
		var fe *FieldError
		if errors.As(e, &fe) && (slices.ContainsFunc(w.errs, func(we *FieldError) bool { return under(fe.Path, we.Path) }) ||
			slices.ContainsFunc(w.meant, func(p string) bool { return under(fe.Path, p) })) {
			continue
		}
		errs = append(errs, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &c, nil
}

// under reports whether path is p or a field or item inside it.
func under(path, p string) bool {
	return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Problem is a FieldError at path, with its line in the file the config was parsed
// from (none for a config built in code): for the checks that look at the machine
// (firmware.Check), in the words of the file's.
func (c *Config) Problem(path, format string, args ...any) *FieldError {
	line := 0
	if c.root != nil {
		line = (&validator{root: c.root}).line(path)
	}
	return &FieldError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)}
}
