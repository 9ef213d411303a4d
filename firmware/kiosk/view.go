package kiosk

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/lockerd/lockerd/firmware/panel"
	"github.com/lockerd/lockerd/locker"
)

// Door is one compartment on the locker's map: its label and where it is, counted
// from the top left in columns and rows.
type Door struct {
	Label string `json:"label"`
	Col   int    `json:"col"`
	Row   int    `json:"row"`
}

// maxGrid bounds a map's columns and rows: a label "Z999" does not make a page of
// a thousand rows.
const maxGrid = 40

// Layout places compartments on the map by their labels: a label of a column letter
// and a row number ("A1", "b12") is at that column and row; every other label is put
// after them, filling rows of the widest column count (at least four), and so is a
// label whose place another took ("a1" after "A1"). Labels are shown as they are;
// nothing but labels is read.
func Layout(labels []string) []Door {
	out := make([]Door, 0, len(labels))
	var rest []string
	cols, rows := 0, 0
	taken := map[[2]int]bool{}
	for _, l := range labels {
		c, r, ok := gridPosition(l)
		if !ok || taken[[2]int{c, r}] {
			rest = append(rest, l)
			continue
		}
		taken[[2]int{c, r}] = true
		out = append(out, Door{Label: l, Col: c, Row: r})
		cols, rows = max(cols, c+1), max(rows, r+1)
	}
	width := max(cols, 4)
	for i, l := range rest {
		out = append(out, Door{Label: l, Col: i % width, Row: rows + i/width})
	}
	return out
}

// gridPosition reads "A1"-style labels: one letter (the column) and 1-3 digits (the
// row, from 1).
func gridPosition(label string) (col, row int, ok bool) {
	if len(label) < 2 || len(label) > 4 || label[0] > unicode.MaxASCII || !unicode.IsLetter(rune(label[0])) {
		return 0, 0, false
	}
	r, err := strconv.Atoi(label[1:])
	if err != nil || r < 1 || r > maxGrid || label[1] == '+' || label[1] == '-' || label[1] == '0' {
		return 0, 0, false
	}
	c := int(unicode.ToUpper(rune(label[0])) - 'A')
	if c >= maxGrid {
		return 0, 0, false
	}
	return c, r - 1, true
}

// view is what the page shows: everything already in the chosen language, with
// counts, labels and durations only (never a code, PIN, badge or tracking number).
// The page lays itself out by Mode and Prompt.
type view struct {
	Seq       uint64            `json:"seq"`
	Lang      Lang              `json:"lang"`
	Mode      string            `json:"mode"`
	Prompt    string            `json:"prompt"`
	Title     string            `json:"title"`
	Detail    string            `json:"detail"`
	Digits    int               `json:"digits"`
	Size      string            `json:"size,omitempty"`
	Map       []cell            `json:"map,omitempty"`
	RetryMS   int64             `json:"retry_ms,omitempty"`   // lock-out or check: time left
	TimeoutMS int64             `json:"timeout_ms,omitempty"` // entry or session: time left before it ends
	WarnMS    int64             `json:"warn_ms,omitempty"`    // warn this long before TimeoutMS runs out
	Speech    bool              `json:"speech"`               // GET /speech.wav?seq=Seq serves the spoken prompt
	Speak     bool              `json:"speak,omitempty"`      // play the speech now (the keypad's read-aloud key)
	UI        map[string]string `json:"ui"`
}

// cell is a door on the map with its state on this screen.
type cell struct {
	Door
	State string `json:"state,omitempty"` // "open", "failed" or empty
	Name  string `json:"name"`            // accessible name, "Door A1, open"
}

// timing is what the view needs of the panel's configuration.
type timing struct {
	entry, idle time.Duration
}

// warnBefore is how long before an entry or session times out the page warns: 20 s
// (WCAG 2.2.1), or half the limit when the limit is shorter than 40 s.
func warnBefore(limit time.Duration) time.Duration {
	return min(20*time.Second, limit/2)
}

// render turns a panel screen shown at shown into the view at now in language l.
func render(s panel.Screen, shown, now time.Time, l Lang, doors []Door, tm timing, seq uint64, speech bool) view {
	p := newPrinter(l)
	v := view{Seq: seq, Lang: l, Mode: s.Mode.String(), Prompt: string(s.Prompt), Digits: s.Digits, Speech: speech}
	if s.Size != locker.SizeUnknown {
		v.Size = s.Size.String()
	}
	slots := s.Slots
	if s.Prompt == panel.PromptDoorFault {
		slots = s.Failed
	}
	labels := joinLabels(l, slots)
	count := len(slots)
	secs := 0
	elapsed := now.Sub(shown)
	if s.RetryAfter > 0 {
		left := max(s.RetryAfter-elapsed, 0)
		v.RetryMS = left.Milliseconds()
		secs = int((left + time.Second - 1) / time.Second)
	}
	key := string(s.Prompt)
	if _, ok := knownPrompt[s.Prompt]; !ok {
		key = string(panel.PromptError)
	}
	dkey := key + ".d"
	switch s.Prompt {
	case panel.PromptTyping:
		count = s.Digits
	case panel.PromptCodeFormat:
		count = s.CodeLength
		if s.CodeLength <= 0 {
			dkey = "code_format_any.d"
		}
	case panel.PromptSize:
		labels = v.Size
		if v.Size == "" {
			dkey = "size_none.d"
		}
	}
	v.Title = p.text(key+".t", count, labels, secs)
	v.Detail = p.text(dkey, count, labels, secs)
	if len(s.Slots) > 0 || len(s.Failed) > 0 {
		v.Map = mapOf(p, doors, s)
	}
	var limit time.Duration
	switch s.Mode {
	case panel.ModeCode, panel.ModePIN, panel.ModePhone:
		limit = tm.entry
	case panel.ModeSession:
		limit = tm.idle
	}
	if limit > 0 {
		v.TimeoutMS = max(limit-elapsed, 0).Milliseconds()
		v.WarnMS = warnBefore(limit).Milliseconds()
	}
	v.UI = uiStrings(p, s)
	if v.TimeoutMS > 0 {
		v.UI["time_left"] = p.text("ui.time_left", int((v.TimeoutMS+999)/1000), "", 0)
	}
	return v
}

var knownPrompt = func() map[panel.Prompt]bool {
	m := make(map[panel.Prompt]bool, len(promptKeys))
	for _, p := range promptKeys {
		m[p] = true
	}
	return m
}()

// joinLabels lists door labels the way the language lists them.
func joinLabels(l Lang, slots []locker.Slot) string {
	names := make([]string, 0, len(slots))
	for _, s := range slots {
		names = append(names, s.Label)
	}
	if l == Chinese {
		return strings.Join(names, "、")
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// mapOf marks the doors of the screen on the locker's map. A door the screen names
// that the map lacks is added at the end, so it is never left out.
func mapOf(p printer, doors []Door, s panel.Screen) []cell {
	state := map[string]string{}
	for _, sl := range s.Slots {
		state[sl.Label] = "open"
	}
	for _, sl := range s.Failed {
		state[sl.Label] = "failed"
	}
	out := make([]cell, 0, len(doors))
	seen := map[string]bool{}
	rows := 0
	for _, d := range doors {
		out = append(out, cell{Door: d, State: state[d.Label]})
		seen[d.Label] = true
		rows = max(rows, d.Row+1)
	}
	i := 0
	for _, sl := range append(append([]locker.Slot{}, s.Slots...), s.Failed...) {
		if !seen[sl.Label] {
			seen[sl.Label] = true
			out = append(out, cell{Door: Door{Label: sl.Label, Col: i % 4, Row: rows + i/4}, State: state[sl.Label]})
			i++
		}
	}
	for i := range out {
		name := p.text("ui.map_door", 1, out[i].Label, 0)
		switch out[i].State {
		case "open":
			name += ", " + p.text("ui.door_open", 0, "", 0)
		case "failed":
			name += ", " + p.text("ui.door_failed", 0, "", 0)
		}
		out[i].Name = name
	}
	return out
}

// uiStrings are the page's fixed labels in the printer's language.
func uiStrings(p printer, s panel.Screen) map[string]string {
	ui := map[string]string{}
	for _, k := range []string{"clear", "enter", "speak", "lang", "lang_label", "more_time", "warn", "keypad",
		"courier_keys", "undo", "retrieve", "done", "map", "offline", "keys_hint", "title"} {
		ui[k] = p.text("ui."+k, 0, "", 0)
	}
	for i, sz := range []string{"S", "M", "L", "XL"} {
		ui["size"+strconv.Itoa(i+1)] = p.text("ui.size", 0, sz, 0)
	}
	ui["entered"] = p.text("ui.entered", s.Digits, "", 0)
	return ui
}

// speechText is the sentence the kiosk speaks for a view: its title and detail.
func speechText(v view) string {
	t := strings.TrimRight(v.Title, ".。")
	if v.Lang == Chinese {
		return t + "。" + v.Detail
	}
	return t + ". " + v.Detail
}
