// Package protocol is the wire contract of the cloud link, shared by the
// device (mqtt/link) and the fleet side (mqtt/fleet): the topic scheme, the JSON
// payloads of signed commands, replies, events and presence, their stable
// enumerations, and strict decoders that say exactly why a payload is
// refused. It does no I/O and knows nothing of MQTT clients or the locker
// domain; docs/protocol.md is its human-readable form.
package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// MaxIDLen is the longest locker, command, event, parcel or courier id.
const MaxIDLen = 64

// Kind names one of the four per-locker topics.
type Kind string

// Topic kinds. The device subscribes to KindCommand and publishes the rest.
const (
	KindCommand Kind = "cmd"
	KindReply   Kind = "reply"
	KindEvent   Kind = "evt"
	KindStatus  Kind = "status"
)

// ErrTopic is wrapped by every error about a topic, prefix or locker id.
var ErrTopic = errors.New("protocol: bad topic")

// Topics builds and parses the per-locker topics <prefix>/<lockerID>/<kind>.
// The zero value is not usable; use NewTopics.
type Topics struct {
	prefix string
}

// NewTopics validates prefix (one or more non-empty levels, no wildcards, no
// leading "$", no leading or trailing "/") and returns the topic scheme under it.
func NewTopics(prefix string) (Topics, error) {
	switch {
	case prefix == "":
		return Topics{}, fmt.Errorf("%w: empty prefix", ErrTopic)
	case strings.HasPrefix(prefix, "$"):
		return Topics{}, fmt.Errorf("%w: prefix %q starts with $, which brokers reserve", ErrTopic, prefix)
	case strings.ContainsAny(prefix, "+#\x00"):
		return Topics{}, fmt.Errorf("%w: prefix %q contains a wildcard or NUL", ErrTopic, prefix)
	case len(prefix) > 128:
		return Topics{}, fmt.Errorf("%w: prefix longer than 128 bytes", ErrTopic)
	}
	for _, level := range strings.Split(prefix, "/") {
		if level == "" {
			return Topics{}, fmt.Errorf("%w: prefix %q has an empty level", ErrTopic, prefix)
		}
	}
	return Topics{prefix: prefix}, nil
}

// MustTopics is NewTopics for constant prefixes; it panics on an invalid one.
func MustTopics(prefix string) Topics {
	t, err := NewTopics(prefix)
	if err != nil {
		panic(err)
	}
	return t
}

// Prefix returns the prefix the topics live under.
func (t Topics) Prefix() string { return t.prefix }

// Topic returns <prefix>/<lockerID>/<kind>. It does not validate lockerID;
// callers take ids from validated configuration or from Parse.
func (t Topics) Topic(lockerID string, kind Kind) string {
	return t.prefix + "/" + lockerID + "/" + string(kind)
}

// Command is the topic a locker receives signed commands on.
func (t Topics) Command(lockerID string) string { return t.Topic(lockerID, KindCommand) }

// Reply is the topic a locker answers commands on.
func (t Topics) Reply(lockerID string) string { return t.Topic(lockerID, KindReply) }

// Event is the topic a locker publishes its events on.
func (t Topics) Event(lockerID string) string { return t.Topic(lockerID, KindEvent) }

// Status is the retained presence topic of a locker.
func (t Topics) Status(lockerID string) string { return t.Topic(lockerID, KindStatus) }

// Wildcard returns the filter matching kind for every locker, <prefix>/+/<kind>.
func (t Topics) Wildcard(kind Kind) string { return t.prefix + "/+/" + string(kind) }

// Parse splits a topic under the prefix into locker id and kind.
func (t Topics) Parse(topic string) (lockerID string, kind Kind, err error) {
	rest, ok := strings.CutPrefix(topic, t.prefix+"/")
	if !ok || t.prefix == "" {
		return "", "", fmt.Errorf("%w: %.200q is not under %q", ErrTopic, topic, t.prefix)
	}
	id, k, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(k, "/") {
		return "", "", fmt.Errorf("%w: %.200q is not <prefix>/<locker>/<kind>", ErrTopic, topic)
	}
	if err := ValidLockerID(id); err != nil {
		return "", "", err
	}
	switch Kind(k) {
	case KindCommand, KindReply, KindEvent, KindStatus:
		return id, Kind(k), nil
	}
	return "", "", fmt.Errorf("%w: unknown topic kind %.32q", ErrTopic, k)
}

// ValidLockerID checks a locker id: 1 to 64 bytes of A-Z a-z 0-9 _ -. The id
// is a topic level and the broker user name, so wildcards, "/" and "$" are out.
func ValidLockerID(id string) error {
	if len(id) == 0 || len(id) > MaxIDLen {
		return fmt.Errorf("%w: locker id must be 1..%d bytes", ErrTopic, MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '_' && c != '-' {
			return fmt.Errorf("%w: locker id has a byte outside A-Z a-z 0-9 _ - at offset %d", ErrTopic, i)
		}
	}
	return nil
}

// ValidID reports whether s is a valid opaque id (command, event, parcel,
// courier, operator): 1 to 64 bytes of A-Z a-z 0-9 . _ : -.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
}
