package protocol

import (
	"errors"
	"testing"
)

func TestNewTopics(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		ok     bool
	}{
		{name: "one level", prefix: "lockers", ok: true},
		{name: "several levels", prefix: "fleet/eu-1/lockers", ok: true},
		{name: "empty", prefix: ""},
		{name: "leading slash", prefix: "/lockers"},
		{name: "trailing slash", prefix: "lockers/"},
		{name: "empty level", prefix: "a//b"},
		{name: "plus wildcard", prefix: "a/+/b"},
		{name: "hash wildcard", prefix: "a/#"},
		{name: "dollar", prefix: "$SYS"},
		{name: "NUL", prefix: "a\x00b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewTopics(tc.prefix)
			if (err == nil) != tc.ok {
				t.Fatalf("NewTopics(%q): %v", tc.prefix, err)
			}
			if err != nil && !errors.Is(err, ErrTopic) {
				t.Fatalf("error %v does not wrap ErrTopic", err)
			}
		})
	}
}

func TestTopicsBuildAndParse(t *testing.T) {
	tp := MustTopics("fleet/lockers")
	builders := []struct {
		name  string
		topic string
		kind  Kind
	}{
		{name: "command", topic: tp.Command("L-001"), kind: KindCommand},
		{name: "reply", topic: tp.Reply("L-001"), kind: KindReply},
		{name: "event", topic: tp.Event("L-001"), kind: KindEvent},
		{name: "status", topic: tp.Status("L-001"), kind: KindStatus},
	}
	for _, tc := range builders {
		t.Run(tc.name, func(t *testing.T) {
			if want := "fleet/lockers/L-001/" + string(tc.kind); tc.topic != want {
				t.Fatalf("topic %q, want %q", tc.topic, want)
			}
			id, kind, err := tp.Parse(tc.topic)
			if err != nil || id != "L-001" || kind != tc.kind {
				t.Fatalf("Parse(%q) = %q, %q, %v", tc.topic, id, kind, err)
			}
		})
	}
	if got := tp.Wildcard(KindEvent); got != "fleet/lockers/+/evt" {
		t.Fatalf("Wildcard = %q", got)
	}
	bad := []struct {
		name  string
		topic string
	}{
		{name: "other prefix", topic: "other/L1/evt"},
		{name: "prefix only", topic: "fleet/lockers"},
		{name: "no kind", topic: "fleet/lockers/L1"},
		{name: "extra level", topic: "fleet/lockers/L1/evt/x"},
		{name: "unknown kind", topic: "fleet/lockers/L1/logs"},
		{name: "bad locker id", topic: "fleet/lockers/L.1/evt"},
		{name: "empty locker id", topic: "fleet/lockers//evt"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tp.Parse(tc.topic); !errors.Is(err, ErrTopic) {
				t.Fatalf("Parse(%q): got %v, want ErrTopic", tc.topic, err)
			}
		})
	}
}

func TestValidIDs(t *testing.T) {
	long := string(make([]byte, 65))
	tests := []struct {
		name     string
		id       string
		locker   bool
		opaqueID bool
	}{
		{name: "simple", id: "L1", locker: true, opaqueID: true},
		{name: "dashes and underscores", id: "eu-1_L-42", locker: true, opaqueID: true},
		{name: "dot and colon", id: "p:2024.1", opaqueID: true},
		{name: "max length", id: "a123456789012345678901234567890123456789012345678901234567890123", locker: true, opaqueID: true},
		{name: "too long", id: long},
		{name: "empty", id: ""},
		{name: "slash", id: "a/b"},
		{name: "plus", id: "a+"},
		{name: "space", id: "a b"},
		{name: "unicode", id: "ä"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidLockerID(tc.id) == nil; got != tc.locker {
				t.Errorf("ValidLockerID(%q) = %v", tc.id, got)
			}
			if got := ValidID(tc.id); got != tc.opaqueID {
				t.Errorf("ValidID(%q) = %v", tc.id, got)
			}
		})
	}
}
