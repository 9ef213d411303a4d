package fleet

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestBufferedConnKeepsWriteOrder: everything written arrives, in the order written,
// whatever the sender coalesces, from several writers at once (paho writes from one
// goroutine, but Close and the keepalive may race it).
func TestBufferedConnKeepsWriteOrder(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	defer c.Close()
	const writers, each = 4, 2000
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(b)
		got <- buf
	}()
	var mu sync.Mutex // each writer's record of what it wrote, in its order
	wrote := make([][]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("<%d:%d>", w, i)
				if _, err := c.Write([]byte(msg)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				wrote[w] = append(wrote[w], msg)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	buf := <-got
	// Per writer, its messages in its order; all of them, nothing else.
	next := make([]int, writers)
	n := 0
	for len(buf) > 0 {
		end := bytes.IndexByte(buf, '>')
		if end < 0 {
			t.Fatalf("torn message at the end: %q", buf)
		}
		var w, i int
		if _, err := fmt.Sscanf(string(buf[:end+1]), "<%d:%d>", &w, &i); err != nil {
			t.Fatalf("torn or interleaved message %q: %v", buf[:end+1], err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: message %d arrived where %d was due", w, i, next[w])
		}
		next[w]++
		n++
		buf = buf[end+1:]
	}
	if n != writers*each {
		t.Fatalf("%d messages arrived, %d written", n, writers*each)
	}
}

// TestBufferedConnCloseSendsWhatIsPending: a DISCONNECT or a last PUBACK written just
// before Close still goes out.
func TestBufferedConnCloseSendsWhatIsPending(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the writes queue up meanwhile
		buf, _ := io.ReadAll(b)
		got <- buf
	}()
	for i := range 100 {
		if _, err := fmt.Fprintf(c, "%03d", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if buf := <-got; len(buf) != 300 || string(buf[297:]) != "099" {
		t.Fatalf("got %d bytes ending %q, want 300 ending in 099", len(buf), buf[max(0, len(buf)-3):])
	}
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a write after Close succeeded")
	}
}

// TestBufferedConnFailedSendClosesTheConnection: when the peer is gone the sender's
// write fails; later writes fail too and the reader (paho's) sees the connection end,
// so paho reports it lost instead of waiting on acknowledgements that never left.
func TestBufferedConnFailedSendClosesTheConnection(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	defer c.Close()
	b.Close()
	_, _ = c.Write([]byte("first")) // queued; the sender's write fails
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Write([]byte("again")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes still succeed 5 s after the peer closed")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a read succeeded on a connection whose send failed")
	}
}

// TestBufferedConnWaitsWhenFull: a peer that does not read holds the writer back
// once maxPending bytes are queued, as a plain connection would.
func TestBufferedConnWaitsWhenFull(t *testing.T) {
	a, b := net.Pipe()
	c := newBufferedConn(a)
	defer c.Close()
	chunk := make([]byte, 64<<10)
	wrote := make(chan int, 64)
	go func() {
		for i := 0; ; i++ {
			if _, err := c.Write(chunk); err != nil {
				close(wrote)
				return
			}
			wrote <- i
		}
	}()
	time.Sleep(200 * time.Millisecond)
	// What the sender holds in its blocked write, and what is queued behind it.
	if n := len(wrote); n*len(chunk) > 2*maxPending+len(chunk) {
		t.Fatalf("%d chunks of %d bytes queued with nothing read, bound 2 × %d", n, len(chunk), maxPending)
	}
	b.Close() // the sender's write fails and the waiting writer is released
	for range wrote {
	}
	if _, err := c.Write(chunk); err == nil {
		t.Fatal("a write succeeded after the peer closed")
	}
}
