package kiosk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"time"
)

// Speaker renders a sentence as WAV audio in a voice.
type Speaker interface {
	Speak(ctx context.Context, voice, text string) ([]byte, error)
}

// Espeak is a Speaker that runs espeak-ng (Debian's espeak-ng package) once per
// sentence: the text on standard input, the WAV on standard output. lockerd's unit
// has no sound device; the page plays the audio.
type Espeak struct {
	Path string // the program; default found on PATH as espeak-ng
}

var _ Speaker = Espeak{}

// maxWAV bounds espeak-ng's output: a prompt is a few seconds (22 kHz, 16 bit: about
// 44 KB a second).
const maxWAV = 4 << 20

// speakTimeout bounds one rendering.
const speakTimeout = 10 * time.Second

// FindEspeak returns an Espeak for the espeak-ng on PATH, or nil when there is none:
// the screen then works without speech.
func FindEspeak() Speaker {
	p, err := exec.LookPath("espeak-ng")
	if err != nil {
		return nil
	}
	return Espeak{Path: p}
}

// Speak implements Speaker.
func (e Espeak) Speak(ctx context.Context, voice, text string) ([]byte, error) {
	path := e.Path
	if path == "" {
		path = "espeak-ng"
	}
	ctx, cancel := context.WithTimeout(ctx, speakTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-v", voice, "--stdout")
	cmd.Stdin = bytes.NewBufferString(text)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limited{b: &out, n: maxWAV}, &limited{b: &stderr, n: 1024}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kiosk: espeak-ng -v %s: %w (%s)", voice, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if out.Len() < 44 || !bytes.HasPrefix(out.Bytes(), []byte("RIFF")) {
		return nil, errors.New("kiosk: espeak-ng wrote no WAV")
	}
	return out.Bytes(), nil
}

// limited keeps the first n bytes written and drops the rest.
type limited struct {
	b *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// speechCache keeps the last sentences rendered: the same screen is asked for again
// by every press of the read-aloud button.
type speechCache struct {
	keys []string
	wavs map[string][]byte
}

const speechCacheSize = 16

func (c *speechCache) get(key string) ([]byte, bool) {
	b, ok := c.wavs[key]
	return b, ok
}

func (c *speechCache) put(key string, wav []byte) {
	if c.wavs == nil {
		c.wavs = map[string][]byte{}
	}
	if _, ok := c.wavs[key]; ok {
		return
	}
	if len(c.keys) == speechCacheSize {
		delete(c.wavs, c.keys[0])
		c.keys = c.keys[1:]
	}
	c.keys = append(c.keys, key)
	c.wavs[key] = wav
}

// speech serves the current screen's sentence as WAV in the language's voice. The
// page names the screen it shows (?seq=); a screen that has since changed answers
// 409, so that a stale prompt is never read out.
func (k *Kiosk) speech(w http.ResponseWriter, r *http.Request) {
	if k.cfg.Speech == nil {
		http.Error(w, "no speech on this kiosk", http.StatusNotFound)
		return
	}
	v, _ := k.current(time.Now(), ^uint64(0))
	if s := r.URL.Query().Get("seq"); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err != nil || n != v.Seq {
			http.Error(w, "the screen has changed", http.StatusConflict)
			return
		}
	}
	text := speechText(v)
	wav, err := k.speak(r.Context(), v.Lang.Voice(), text)
	if err != nil {
		k.log.Warn("kiosk: speech failed", "voice", v.Lang.Voice(), "err", err)
		http.Error(w, "speech failed", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Length", strconv.Itoa(len(wav)))
	w.Write(wav) //nolint:errcheck // the page asks again
}

// speak renders text in voice, one rendering at a time, from the cache when it can.
func (k *Kiosk) speak(ctx context.Context, voice, text string) ([]byte, error) {
	k.speechMu.Lock()
	defer k.speechMu.Unlock()
	key := voice + "\x00" + text
	if b, ok := k.cache.get(key); ok {
		return b, nil
	}
	b, err := k.cfg.Speech.Speak(ctx, voice, text)
	if err != nil {
		return nil, err
	}
	k.cache.put(key, b)
	return b, nil
}
