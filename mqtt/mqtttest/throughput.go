package mqtttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/lockerd/lockerd/mqtt/protocol"
)

// PlainSubscriber is the plain subscriber the throughput benchmarks compare with
// (architecture §8): mosquitto_sub on a persistent session, QoS 1, printing each
// message on a line. Args connect it and name its client id and topic (-h, -p, the
// credentials, -q 1, -c, -i, -t); the subscriber adds -E and -C itself.
type PlainSubscriber struct {
	Path string // mosquitto_sub (Tool)
	Args []string
}

// Receive times the delivery of n messages to the subscriber, counting only from the
// moment it is connected and receiving, so that neither the process start nor the TLS
// handshake is charged to the broker's delivery:
//
//  1. a first mosquitto_sub run (-E) makes its persistent session and subscription,
//     so that no message published from then on can be missed;
//  2. a second run (-C n+1) starts, mark publishes one message and Receive waits
//     until the subscriber has printed it: it is connected and receiving;
//  3. the clock starts, publish publishes the n messages, and the clock stops when
//     the subscriber has printed the last of them.
//
// Every payload must be one line (no newline), as a signed command is: lines are what
// Receive counts. mosquitto_sub (2.0) flushes its output after each message, so the
// lines come through the pipe as the messages arrive.
func (s PlainSubscriber) Receive(ctx context.Context, n int, mark, publish func() error) (time.Duration, error) {
	if out, err := exec.CommandContext(ctx, s.Path, append(s.Args, "-E")...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("mqtttest: mosquitto_sub -E: %w\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, s.Path, append(s.Args, "-C", fmt.Sprint(n+1))...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("mqtttest: mosquitto_sub: %w", err)
	}
	marked, last := make(chan struct{}), make(chan time.Time, 1)
	read := make(chan error, 1)
	go func() { read <- countLines(out, n+1, marked, last) }()
	wait := func(err error) (time.Duration, error) {
		if werr := cmd.Wait(); err == nil && werr != nil {
			err = fmt.Errorf("mqtttest: mosquitto_sub: %w\n%s", werr, stderr.Bytes())
		}
		return 0, err
	}
	if err := mark(); err != nil {
		cmd.Process.Kill()
		return wait(err)
	}
	select {
	case <-marked:
	case err := <-read:
		return wait(fmt.Errorf("mqtttest: mosquitto_sub ended before the mark: %v", err))
	case <-ctx.Done():
		cmd.Process.Kill()
		return wait(ctx.Err())
	}
	start := time.Now()
	if err := publish(); err != nil {
		cmd.Process.Kill()
		return wait(err)
	}
	if err := <-read; err != nil {
		cmd.Process.Kill()
		return wait(err)
	}
	end := <-last
	if _, err := wait(nil); err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// countLines reads r until it has seen want newlines, closing marked at the first and
// sending the time of the last on last; then it drains r to its end.
func countLines(r io.Reader, want int, marked chan<- struct{}, last chan<- time.Time) error {
	buf := make([]byte, 64<<10)
	seen := 0
	for seen < want {
		k, err := r.Read(buf)
		if k > 0 {
			if seen == 0 {
				seen = bytes.Count(buf[:k], []byte{'\n'})
				if seen > 0 {
					close(marked)
				}
			} else {
				seen += bytes.Count(buf[:k], []byte{'\n'})
			}
		}
		if seen >= want {
			last <- time.Now()
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("mqtttest: mosquitto_sub printed %d of %d lines: %w", seen, want, err)
		}
	}
	_, err := io.Copy(io.Discard, r)
	return err
}

// FinalReplies counts a device's final replies by command id, for the throughput
// benchmarks: a round waits for a done reply to each of its commands. Counting
// `"status":"done"` in payloads would also count a reply to an earlier round's command
// and a second reply to a command the broker delivered twice (the device answers it
// again from its command log), and end the round before its last command is applied.
type FinalReplies struct {
	mu      sync.Mutex
	waiting map[string]bool // ids of the round's commands without a done reply yet
	all     chan struct{}   // closed when waiting empties
	failed  chan struct{}   // closed at the first reply that is not done or accepted
	failure string
	other   int
}

// NewFinalReplies returns a counter with no round under way.
func NewFinalReplies() *FinalReplies {
	return &FinalReplies{failed: make(chan struct{})}
}

// Expect starts a round: ids are the commands whose done replies it waits for. The
// previous round must be over.
func (f *FinalReplies) Expect(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiting, f.all = make(map[string]bool, len(ids)), make(chan struct{})
	for _, id := range ids {
		f.waiting[id] = true
	}
	if len(f.waiting) == 0 {
		close(f.all)
	}
}

// Handle reads one reply message (one reply or an array, ADR 0031). A done reply
// without a reason counts for its command if the round waits for it; accepted is not
// final; any other reply (refused, failed, unknown, a partial announcement) or a
// message that does not decode fails the round.
func (f *FinalReplies) Handle(payload []byte) {
	rs, err := protocol.DecodeReplies(payload)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.fail(fmt.Sprintf("undecodable reply message: %v", err))
	}
	for _, r := range rs {
		switch {
		case r.Status == protocol.StatusAccepted:
		case r.Status == protocol.StatusDone && r.Reason == "":
			if !f.waiting[r.ID] {
				f.other++
				continue
			}
			delete(f.waiting, r.ID)
			if len(f.waiting) == 0 {
				close(f.all)
			}
		default:
			f.fail(fmt.Sprintf("command %s: %s %s %s", r.ID, r.Status, r.Reason, r.Detail))
		}
	}
}

func (f *FinalReplies) fail(why string) {
	if f.failure == "" {
		f.failure = why
		close(f.failed)
	}
}

// Wait waits until every command of the round has its done reply. It fails at the
// first reply that is not done (see Handle), or when ctx ends.
func (f *FinalReplies) Wait(ctx context.Context) error {
	f.mu.Lock()
	all := f.all
	f.mu.Unlock()
	select {
	case <-all:
		return nil
	case <-f.failed:
		f.mu.Lock()
		defer f.mu.Unlock()
		return fmt.Errorf("mqtttest: %s", f.failure)
	case <-ctx.Done():
		f.mu.Lock()
		defer f.mu.Unlock()
		return fmt.Errorf("mqtttest: %d commands without a done reply: %w", len(f.waiting), ctx.Err())
	}
}

// Other returns how many done replies did not count: replies to commands of an
// earlier round, or second replies to commands already counted.
func (f *FinalReplies) Other() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.other
}
