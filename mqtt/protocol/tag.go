package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Every event and reply message a locker publishes carries a device MAC, the tag
// (docs/protocol.md §5.3, docs/adr/0050-authenticated-events.md): HMAC-SHA256 under
// the locker's event key (HKDF label "event") over a domain string and the exact bytes
// of the message as encoded, sent as a member "mac" inserted as the last member of the
// message's last object. A receiver that does not verify ignores the member.

// TagMember is the JSON member that carries the tag (version 1 of the scheme).
const TagMember = "mac"

// TagLen is the length of a tag as it travels: unpadded base64url of 32 bytes.
const TagLen = 43

// TagMemberLen is what the tag adds to a message: the length of `,"mac":"<43 characters>"`.
const TagMemberLen = len(`,"`) + len(TagMember) + len(`":"`) + TagLen + len(`"`)

// Errors of VerifyTag; compare with errors.Is.
var (
	// ErrNoTag means the message carries no tag where the scheme puts it.
	ErrNoTag = errors.New("protocol: message carries no mac")
	// ErrBadTag means the tag does not verify: the message was not made by the
	// locker whose key was used, or was altered.
	ErrBadTag = errors.New("protocol: mac does not verify")
)

// tagDomain is what precedes the message in the MAC's input: it separates events
// from replies and binds the message to its locker.
func tagDomain(kind Kind, lockerID string) ([]byte, error) {
	switch kind {
	case KindEvent:
		return []byte("lockerd/v1/event\n" + lockerID + "\n"), nil
	case KindReply:
		return []byte("lockerd/v1/reply\n" + lockerID + "\n"), nil
	}
	return nil, fmt.Errorf("protocol: no tag for %q messages", string(kind))
}

// Tag returns the tag of payload (an untagged message) on lockerID's topic of kind
// (KindEvent or KindReply), unpadded base64url.
func Tag(key []byte, kind Kind, lockerID string, payload []byte) (string, error) {
	domain, err := tagDomain(kind, lockerID)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(domain)
	m.Write(payload)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])), nil
}

// lastClose returns the index of the closing brace of the message's last object:
// the last byte of an object, the byte before the final ']' of an array of objects;
// -1 if the message ends otherwise.
func lastClose(msg []byte) int {
	n := len(msg)
	switch {
	case n >= 2 && msg[n-1] == '}':
		return n - 1
	case n >= 3 && msg[n-1] == ']' && msg[n-2] == '}':
		return n - 2
	}
	return -1
}

// AppendTag returns payload with its tag inserted as the last member of its last
// object. The payload is an encoded event, reply or array of replies exactly as it
// will be sent: the tag covers those bytes. It must end with the '}' of a non-empty
// object (or '}' and the ']' of an array).
func AppendTag(key []byte, kind Kind, lockerID string, payload []byte) ([]byte, error) {
	at := lastClose(payload)
	if at < 1 || payload[at-1] == '{' {
		return nil, errors.New("protocol: tag: the message does not end with a non-empty object")
	}
	tag, err := Tag(key, kind, lockerID, payload)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(payload)+TagMemberLen)
	out = append(out, payload[:at]...)
	out = append(out, `,"`+TagMember+`":"`...)
	out = append(out, tag...)
	out = append(out, '"')
	return append(out, payload[at:]...), nil
}

// SplitTag finds the tag where AppendTag puts it and returns the message without it
// (a new slice) and the tag; ErrNoTag if there is none.
func SplitTag(msg []byte) (payload []byte, tag string, err error) {
	at := lastClose(msg)
	if at < TagMemberLen+1 {
		return nil, "", ErrNoTag
	}
	member := msg[at-TagMemberLen : at]
	prefix := `,"` + TagMember + `":"`
	if !bytes.HasPrefix(member, []byte(prefix)) || member[len(member)-1] != '"' {
		return nil, "", ErrNoTag
	}
	tag = string(member[len(prefix) : len(member)-1])
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; !isAlnum(c) && c != '-' && c != '_' {
			return nil, "", ErrNoTag
		}
	}
	payload = make([]byte, 0, len(msg)-TagMemberLen)
	payload = append(payload, msg[:at-TagMemberLen]...)
	return append(payload, msg[at:]...), tag, nil
}

// VerifyTag checks the tag of a message received on lockerID's topic of kind and
// returns the message without it, the bytes the tag covers, to be decoded. It
// returns an error wrapping ErrNoTag or ErrBadTag, and decodes nothing, when the
// tag is missing or wrong.
func VerifyTag(key []byte, kind Kind, lockerID string, msg []byte) ([]byte, error) {
	payload, tag, err := SplitTag(msg)
	if err != nil {
		return nil, err
	}
	want, err := Tag(key, kind, lockerID, payload)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(tag), []byte(want)) {
		return nil, ErrBadTag
	}
	return payload, nil
}
