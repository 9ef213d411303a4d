package keypad

import (
	"sync"
	"time"
)

// EntryConfig configures code entry; zero fields take the defaults.
type EntryConfig struct {
	MinDigits int           // shortest code accepted on '#'; default 6
	MaxDigits int           // longest; a further digit is ignored; default 8
	Timeout   time.Duration // a partial entry idle this long is dropped; default 10 s
}

// EntryStats counts what an Entry did. Codes themselves are never kept.
type EntryStats struct {
	Codes    uint64 // finished codes handed on
	Cleared  uint64 // '*' presses with digits entered
	TooShort uint64 // '#' with fewer than MinDigits
	Overflow uint64 // digits beyond MaxDigits, ignored
	TimedOut uint64 // partial entries dropped for inactivity
}

// Entry accumulates keys into a code. It is a pure state machine: the
// caller passes the time with each key and calls Expire to time out a
// partial entry. It is not safe for concurrent use; Collector wraps it
// with a goroutine and a timer.
type Entry struct {
	cfg   EntryConfig
	buf   []byte
	last  time.Time
	stats EntryStats
}

// NewEntry returns an Entry with cfg's zero fields defaulted.
func NewEntry(cfg EntryConfig) *Entry {
	if cfg.MinDigits <= 0 {
		cfg.MinDigits = 6
	}
	if cfg.MaxDigits <= 0 {
		cfg.MaxDigits = 8
	}
	if cfg.MaxDigits < cfg.MinDigits {
		cfg.MaxDigits = cfg.MinDigits
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Entry{cfg: cfg, buf: make([]byte, 0, cfg.MaxDigits)}
}

// Press handles one key at now. It returns a finished code (a fresh slice
// the caller owns and should wipe after use) when '#' completes a code of
// MinDigits to MaxDigits digits.
func (e *Entry) Press(k Key, now time.Time) (code []byte, ok bool) {
	e.Expire(now)
	switch {
	case k.IsDigit():
		if len(e.buf) >= e.cfg.MaxDigits {
			e.stats.Overflow++
			break
		}
		e.buf = append(e.buf, byte(k))
		e.last = now
	case k == KeyClear:
		if len(e.buf) > 0 {
			e.stats.Cleared++
		}
		e.wipe()
	case k == KeyEnter:
		if len(e.buf) < e.cfg.MinDigits {
			if len(e.buf) > 0 {
				e.stats.TooShort++
			}
			e.wipe()
			break
		}
		code = append([]byte(nil), e.buf...)
		e.stats.Codes++
		e.wipe()
		return code, true
	}
	return nil, false
}

// Expire drops a partial entry idle for Timeout at now, reporting whether
// it did.
func (e *Entry) Expire(now time.Time) bool {
	if len(e.buf) > 0 && now.Sub(e.last) >= e.cfg.Timeout {
		e.stats.TimedOut++
		e.wipe()
		return true
	}
	return false
}

// Deadline reports when the partial entry will time out, if there is one.
func (e *Entry) Deadline() (time.Time, bool) {
	if len(e.buf) == 0 {
		return time.Time{}, false
	}
	return e.last.Add(e.cfg.Timeout), true
}

// Len is the number of digits entered so far (for a display's dots).
func (e *Entry) Len() int { return len(e.buf) }

// Stats returns the counters.
func (e *Entry) Stats() EntryStats { return e.stats }

func (e *Entry) wipe() {
	clear(e.buf[:cap(e.buf)])
	e.buf = e.buf[:0]
}

// Collector feeds keys from any number of pads into one Entry and calls
// onCode with each finished code from its own goroutine, which also times
// out partial entries. Close stops it.
type Collector struct {
	onCode func([]byte)
	keys   chan Key
	stop   chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	stats EntryStats
	n     int
}

// NewCollector starts a Collector. onCode owns the slice it gets and should
// wipe it after use.
func NewCollector(cfg EntryConfig, onCode func(code []byte)) *Collector {
	c := &Collector{onCode: onCode, keys: make(chan Key, 64), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run(NewEntry(cfg))
	return c
}

// Key hands a key to the collector. It never blocks the pad's goroutine for
// long: if 64 keys are queued the key is dropped.
func (c *Collector) Key(k Key) {
	select {
	case c.keys <- k:
	default:
	}
}

// Stats returns the Entry's counters.
func (c *Collector) Stats() EntryStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Len is the number of digits in the partial entry.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Close stops the collector, dropping a partial entry.
func (c *Collector) Close() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	return nil
}

func (c *Collector) run(e *Entry) {
	defer close(c.done)
	defer e.wipe()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if d, ok := e.Deadline(); ok {
			t.Reset(time.Until(d))
		} else {
			t.Reset(time.Hour)
		}
		select {
		case <-c.stop:
			return
		case k := <-c.keys:
			if code, ok := e.Press(k, time.Now()); ok && c.onCode != nil {
				c.onCode(code)
			}
		case <-t.C:
			e.Expire(time.Now())
		}
		c.mu.Lock()
		c.stats, c.n = e.Stats(), e.Len()
		c.mu.Unlock()
	}
}
