package protocol

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestProtocolMDAgrees keeps docs/protocol.md, the prose an outsider implements
// from, in step with docs/asyncapi.yaml and with this package's own decoding:
// every command type of §3.4's table, every reason of §4.2, every event type of
// §5.2's table, the members of the claims, reply, event and presence tables, and
// every numeric range §3.4 states for a command member, and that every body member
// is named in its row. A value added, removed or
// changed on one side only fails here (TestAsyncAPIMatchesTheCode ties
// asyncapi.yaml to the Go types the same way).
func TestProtocolMDAgrees(t *testing.T) {
	md := readProtocolMD(t)
	api := readAsyncAPI(t)

	t.Run("command types", func(t *testing.T) {
		got := firstCells(t, md.section(t, "### 3.4 "), "`typ`")
		sameSet(t, "protocol.md §3.4", got, "code", toStrings(CommandTypes()))
		sameSet(t, "protocol.md §3.4", got, "asyncapi CommandType", api.enum(t, "CommandType"))
	})

	t.Run("event types", func(t *testing.T) {
		got := firstCells(t, md.section(t, "### 5.2 "), "`type`")
		sameSet(t, "protocol.md §5.2", got, "code", toStrings(EventTypes()))
		sameSet(t, "protocol.md §5.2", got, "asyncapi EventType", api.enum(t, "EventType"))
	})

	t.Run("reasons", func(t *testing.T) {
		text, _, _ := strings.Cut(md.section(t, "### 4.2 "), "<!--")
		reasons := toStrings(Reasons())
		// Other words §4.2 names in backquotes: statuses, command types and members.
		other := append(toStrings(Statuses()), toStrings(CommandTypes())...)
		other = append(other, "detail", "parcel", "status", "reason")
		var named []string
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(text, -1) {
			w := m[1]
			switch {
			case slices.Contains(reasons, w):
				named = append(named, w)
			case !slices.Contains(other, w):
				t.Errorf("protocol.md §4.2 names `%s`, which is no reason the code knows", w)
			}
		}
		sameSet(t, "protocol.md §4.2", dedup(named), "code", reasons)
		sameSet(t, "code", reasons, "asyncapi Reason", api.enum(t, "Reason"))
	})

	// The member tables; "mac" is the device's tag, which asyncapi.yaml describes
	// as the Tag schema appended to the message rather than as a member.
	for _, tc := range []struct {
		heading, schema string
		goType          any
	}{
		{"### 3.2 ", "Claims", Claims{}},
		{"### 4.1 ", "Reply", Reply{}},
		{"### 5.1 ", "Event", Event{}},
		{"## 6. ", "Presence", Presence{}},
	} {
		t.Run("members "+tc.schema, func(t *testing.T) {
			got := slices.DeleteFunc(firstCells(t, md.section(t, tc.heading), "member"), func(s string) bool { return s == TagMember })
			code, _ := wireFields(reflect.TypeOf(tc.goType))
			sameSet(t, "protocol.md "+strings.TrimSpace(tc.heading), got, "code", code)
			sameSet(t, "protocol.md "+strings.TrimSpace(tc.heading), got, "asyncapi "+tc.schema, api.props(t, tc.schema))
		})
	}

	// Every member of every body is named in its row: §3.4's body column (the
	// announced parcel's and the policy's in the paragraphs after the table, which
	// the row points to) and done-reply column, §5.2's body column.
	t.Run("body members", func(t *testing.T) {
		sec34 := md.section(t, "### 3.4 ")
		announced := paragraph(t, sec34, "\nAnnounced parcel:")
		policy := paragraph(t, sec34, "\nPolicy (all required")
		results := map[CommandType][]any{
			CmdInventory: {InventoryResult{}, CompartmentInfo{}}, CmdStatus: {StatusResult{}},
			CmdAuditRange: {AuditRangeResult{}, AuditEntry{}}, CmdPing: {PingResult{}},
			CmdTime: {TimeResult{}}, CmdEraseSubject: {EraseSubjectResult{}},
		}
		for _, r := range tableRows(sec34, "`typ`") {
			for _, name := range backquoted(r[0]) {
				ct := CommandType(name)
				b, err := NewBody(ct)
				if err != nil {
					t.Errorf("§3.4 row %s: %v", name, err)
					continue
				}
				where := r[1]
				switch ct {
				case CmdAnnounce:
					where += announced
					members, _ := wireFields(reflect.TypeOf(AnnouncedParcel{}))
					mustName(t, "§3.4 announced parcel", announced, members)
				case CmdPolicy:
					where += policy
					for _, v := range []any{Throttle{}, CodeEntry{}} {
						members, _ := wireFields(reflect.TypeOf(v))
						mustName(t, "§3.4 policy", policy, members)
					}
				}
				members, _ := wireFields(reflect.TypeOf(b).Elem())
				mustName(t, "§3.4 "+name+" body", where, members)
				for _, v := range results[ct] {
					members, _ := wireFields(reflect.TypeOf(v))
					mustName(t, "§3.4 "+name+" done reply", r[2], members)
				}
			}
		}
		for _, r := range tableRows(md.section(t, "### 5.2 "), "`type`") {
			for _, name := range backquoted(r[0]) {
				b, err := NewEventBody(EventType(name))
				if err != nil {
					t.Errorf("§5.2 row %s: %v", name, err)
					continue
				}
				members, _ := wireFields(reflect.TypeOf(b).Elem())
				mustName(t, "§5.2 "+name+" body", r[1], members)
			}
		}
	})

	// Ids: §1 states their length and alphabet; asyncapi.yaml's LockerId and Id
	// patterns and ValidLockerID and ValidID must take and refuse the same.
	t.Run("ids", func(t *testing.T) {
		sec := md.section(t, "## 1. ")
		for _, tc := range []struct {
			prose, schema string
			valid         func(string) bool
		}{
			{"Locker ids are", "LockerId", func(s string) bool { return ValidLockerID(s) == nil }},
			{"courier, operator) is", "Id", ValidID}, // "Every other id (command, event, parcel, courier, operator) is"
		} {
			re := regexp.MustCompile(regexp.QuoteMeta(tc.prose) + "\\s+([0-9]+)-([0-9]+) characters of `([^`]+)`")
			m := re.FindStringSubmatch(sec)
			if m == nil {
				t.Errorf("protocol.md §1 no longer says %q N-M characters of `…`", tc.prose)
				continue
			}
			lo, _ := strconv.Atoi(m[1])
			hi, _ := strconv.Atoi(m[2])
			var class strings.Builder
			dash := false
			for _, tok := range strings.Fields(m[3]) {
				switch {
				case tok == "-":
					dash = true
				case len(tok) == 3 && tok[1] == '-':
					class.WriteString(tok)
				default:
					class.WriteString(regexp.QuoteMeta(tok))
				}
			}
			if dash {
				class.WriteString("-")
			}
			doc := regexp.MustCompile(fmt.Sprintf("^[%s]{%d,%d}$", class.String(), lo, hi))
			pattern := api.schema(t, tc.schema).Pattern
			apiRE, err := regexp.Compile(pattern)
			if err != nil || pattern == "" {
				t.Fatalf("asyncapi %s pattern %q: %v", tc.schema, pattern, err)
			}
			var samples []string
			for c := byte(0x20); c < 0x7f; c++ {
				samples = append(samples, strings.Repeat(string(c), 2))
			}
			for _, n := range []int{lo - 1, lo, hi, hi + 1} {
				samples = append(samples, strings.Repeat("a", max(n, 0)))
			}
			for _, id := range samples {
				d, a, c := doc.MatchString(id), apiRE.MatchString(id), tc.valid(id)
				if d != a || d != c {
					t.Errorf("%s %q: protocol.md says %v, asyncapi %v, the code %v", tc.schema, id, d, a, c)
				}
			}
		}
	})

	// The hint: protocol.md §3.4 says an optional ellipsis and 1-4 ASCII letters or
	// digits; asyncapi.yaml's pattern and the code must take and refuse the same.
	t.Run("hint", func(t *testing.T) {
		if !strings.Contains(md.section(t, "### 3.4 "), "an optional `…`") {
			t.Error("protocol.md §3.4 no longer says the hint's ellipsis is optional")
		}
		pattern := api.schema(t, "Hint").Pattern
		re, err := regexp.Compile(pattern)
		if err != nil || pattern == "" {
			t.Fatalf("asyncapi Hint pattern %q: %v", pattern, err)
		}
		for _, h := range []string{"…85GB", "85GB", "…5", "7", "…ab9Z", "…", "", "…12345", "12345", "...85GB", "…85 G", "…8-5", "……85", "…ÄB", "85GB…"} {
			if api, code := re.MatchString(h), validHint(h) && h != ""; api != code {
				t.Errorf("hint %q: asyncapi pattern says %v, the code %v", h, api, code)
			}
		}
	})

	t.Run("limits", func(t *testing.T) {
		sec := md.section(t, "### 3.4 ")
		// "`name` ... N-M": a member, then within the same clause (no other member,
		// no other number) its range.
		re := regexp.MustCompile("`([a-z_]+)`([^`0-9]{0,60}?)\\b([0-9]+)-([0-9]+)\\b")
		found := 0
		for _, m := range re.FindAllStringSubmatch(sec, -1) {
			name := m[1]
			lo, _ := strconv.Atoi(m[3])
			hi, _ := strconv.Atoi(m[4])
			l, ok := limits[name]
			if !ok {
				t.Errorf("protocol.md §3.4 gives `%s` the range %d-%d, which this test does not know: add it to limits", name, lo, hi)
				continue
			}
			found++
			checkLimit(t, api, name, l, lo, hi)
		}
		m := regexp.MustCompile(`Compartments are integers\s+([0-9]+)-([0-9]+)`).FindStringSubmatch(sec)
		if m == nil {
			t.Fatal("protocol.md §3.4 no longer states the compartment range")
		}
		lo, _ := strconv.Atoi(m[1])
		hi, _ := strconv.Atoi(m[2])
		checkLimit(t, api, "compartment", limit{schema: "Compartment", cmd: CmdOpenCompartment,
			base: `{"compartment":1,"reason":"support","operator":"op-1"}`, path: "compartment"}, lo, hi)
		if found < len(limits) {
			t.Errorf("protocol.md §3.4 states %d of the %d ranges this test knows", found, len(limits))
		}
	})
}

// limit says where a range protocol.md states lives in asyncapi.yaml (schema,
// and prop unless the schema itself carries it; items: minItems/maxItems) and how
// to probe it in the code: a valid body of command cmd, and the member to set.
type limit struct {
	schema, prop string
	items        bool
	cmd          CommandType
	base, path   string
}

const policyBase = `{"version":1,"retention_s":3600,"announced_keep_s":3600,"purge_after_s":1,
 "code_throttle":{"max_failures":1,"base_delay_s":1,"max_delay_s":86400},
 "courier_throttle":{"max_failures":1,"base_delay_s":1,"max_delay_s":86400},
 "code_entry":{"min_length":8,"delay_s":2,"alarm_failures":1},
 "door_open_timeout_s":1,"left_open_after_s":10}`

// limits holds every range protocol.md §3.4 states for a member; the test fails
// when the prose states one missing here.
var limits = map[string]limit{
	"parcels":             {schema: "AnnounceBody", prop: "parcels", items: true, cmd: CmdAnnounce, path: "parcels"},
	"limit":               {schema: "AuditRangeBody", prop: "limit", cmd: CmdAuditRange, base: `{"from":1}`, path: "limit"},
	"retention_s":         {schema: "PolicyBody", prop: "retention_s", cmd: CmdPolicy, base: policyBase, path: "retention_s"},
	"announced_keep_s":    {schema: "PolicyBody", prop: "announced_keep_s", cmd: CmdPolicy, base: policyBase, path: "announced_keep_s"},
	"purge_after_s":       {schema: "PolicyBody", prop: "purge_after_s", cmd: CmdPolicy, base: policyBase, path: "purge_after_s"},
	"door_open_timeout_s": {schema: "PolicyBody", prop: "door_open_timeout_s", cmd: CmdPolicy, base: policyBase, path: "door_open_timeout_s"},
	"left_open_after_s":   {schema: "PolicyBody", prop: "left_open_after_s", cmd: CmdPolicy, base: policyBase, path: "left_open_after_s"},
	"max_failures":        {schema: "Throttle", prop: "max_failures", cmd: CmdPolicy, base: policyBase, path: "courier_throttle.max_failures"},
	"base_delay_s":        {schema: "Throttle", prop: "base_delay_s", cmd: CmdPolicy, base: policyBase, path: "code_throttle.base_delay_s"},
	"min_length":          {schema: "CodeEntry", prop: "min_length", cmd: CmdPolicy, base: policyBase, path: "code_entry.min_length"},
	"delay_s":             {schema: "CodeEntry", prop: "delay_s", cmd: CmdPolicy, base: policyBase, path: "code_entry.delay_s"},
	"alarm_failures":      {schema: "CodeEntry", prop: "alarm_failures", cmd: CmdPolicy, base: policyBase, path: "code_entry.alarm_failures"},
}

// checkLimit compares the range lo-hi protocol.md states for name with
// asyncapi.yaml's bounds and with what DecodeBody accepts: lo and hi are taken,
// lo-1 and hi+1 refused as schema.
func checkLimit(t *testing.T, api asyncAPI, name string, l limit, lo, hi int) {
	t.Helper()
	s := api.schema(t, l.schema)
	if l.prop != "" {
		s = api.resolve(t, s.Properties[l.prop])
	}
	min, max := s.Minimum, s.Maximum
	if l.items {
		min, max = s.MinItems, s.MaxItems
	}
	if min == nil || max == nil || *min != lo || *max != hi {
		t.Errorf("`%s`: protocol.md %d-%d, asyncapi %s.%s %s-%s", name, lo, hi, l.schema, l.prop, show(min), show(max))
	}
	for _, v := range []int{lo - 1, lo, hi, hi + 1} {
		raw := probeBody(t, l, v)
		_, err := DecodeBody(l.cmd, raw)
		switch want := v >= lo && v <= hi; {
		case want && err != nil:
			t.Errorf("`%s` = %d is in protocol.md's range %d-%d, but the code refuses it: %v", name, v, lo, hi, err)
		case !want && err == nil:
			t.Errorf("`%s` = %d is outside protocol.md's range %d-%d, but the code accepts it", name, v, lo, hi)
		}
	}
}

// probeBody returns l's body with its member set to v (for an array, v items).
func probeBody(t *testing.T, l limit, v int) json.RawMessage {
	t.Helper()
	if l.items {
		ps := make([]map[string]any, max(v, 0))
		for i := range ps {
			ps[i] = map[string]any{"parcel": fmt.Sprintf("p-%d", i), "size": "S",
				"waybill": fmt.Sprintf("%064x", i+1)}
		}
		raw, err := json.Marshal(map[string]any{l.path: ps})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(l.base), &body); err != nil {
		t.Fatalf("base body of %s: %v", l.path, err)
	}
	obj := body
	keys := strings.Split(l.path, ".")
	for _, k := range keys[:len(keys)-1] {
		obj = obj[k].(map[string]any)
	}
	obj[keys[len(keys)-1]] = v
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func show(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}

type protocolMD string

func readProtocolMD(t *testing.T) protocolMD {
	t.Helper()
	raw, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	return protocolMD(raw)
}

// section returns the text under the heading that starts with prefix, up to the
// next heading of the same or a higher level (lines in code fences are no headings).
func (md protocolMD) section(t *testing.T, prefix string) string {
	t.Helper()
	lines := strings.Split(string(md), "\n")
	start, level := -1, 0
	fenced := false
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		if fenced || hashes == 0 || !strings.HasPrefix(line[hashes:], " ") {
			continue
		}
		switch {
		case start < 0 && strings.HasPrefix(line, prefix):
			start, level = i+1, hashes
		case start >= 0 && hashes <= level:
			return strings.Join(lines[start:i], "\n")
		}
	}
	if start < 0 {
		t.Fatalf("protocol.md has no heading %q", prefix)
	}
	return strings.Join(lines[start:], "\n")
}

// tableRows returns the cells (without the outer pipes) of the data rows of the
// first table in text whose header's first cell is header.
func tableRows(text, header string) [][]string {
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i++ {
		cells := strings.Split(lines[i], "|")
		if len(cells) < 3 || strings.TrimSpace(cells[1]) != header || !strings.HasPrefix(lines[i+1], "|---") {
			continue
		}
		var rows [][]string
		for _, line := range lines[i+2:] {
			if !strings.HasPrefix(line, "|") {
				break
			}
			cells := strings.Split(line, "|")
			rows = append(rows, cells[1:len(cells)-1])
		}
		return rows
	}
	return nil
}

// paragraph returns the paragraph of text that starts with start.
func paragraph(t *testing.T, text, start string) string {
	t.Helper()
	i := strings.Index(text, start)
	if i < 0 {
		t.Fatalf("protocol.md has no paragraph %q", start)
	}
	p, _, _ := strings.Cut(text[i+1:], "\n\n")
	return p
}

func backquoted(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// mustName reports each member that text does not name in backquotes.
func mustName(t *testing.T, where, text string, members []string) {
	t.Helper()
	named := backquoted(text)
	for _, m := range members {
		if !slices.Contains(named, m) {
			t.Errorf("protocol.md %s does not name the member `%s`", where, m)
		}
	}
}

// firstCells returns the backquoted words in the first column of the data rows
// of the first table in text whose header's first cell is header.
func firstCells(t *testing.T, text, header string) []string {
	t.Helper()
	var out []string
	word := regexp.MustCompile("`([^`]+)`")
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i++ {
		cells := strings.Split(lines[i], "|")
		if len(cells) < 3 || strings.TrimSpace(cells[1]) != header || !strings.HasPrefix(lines[i+1], "|---") {
			continue
		}
		for _, line := range lines[i+2:] {
			if !strings.HasPrefix(line, "|") {
				break
			}
			for _, m := range word.FindAllStringSubmatch(strings.Split(line, "|")[1], -1) {
				out = append(out, m[1])
			}
		}
		break
	}
	if len(out) == 0 {
		t.Fatalf("no table with the header %q found", header)
	}
	return out
}

func dedup(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func sameSet(t *testing.T, aName string, a []string, bName string, b []string) {
	t.Helper()
	a, b = dedup(a), dedup(b)
	for _, x := range a {
		if !slices.Contains(b, x) {
			t.Errorf("%s has %q, %s has not", aName, x, bName)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			t.Errorf("%s has %q, %s has not", bName, x, aName)
		}
	}
}

type apiSchema struct {
	Ref        string               `yaml:"$ref"`
	Enum       []string             `yaml:"enum"`
	Pattern    string               `yaml:"pattern"`
	Properties map[string]apiSchema `yaml:"properties"`
	Minimum    *int                 `yaml:"minimum"`
	Maximum    *int                 `yaml:"maximum"`
	MinItems   *int                 `yaml:"minItems"`
	MaxItems   *int                 `yaml:"maxItems"`
}

type asyncAPI struct {
	Components struct {
		Schemas map[string]apiSchema `yaml:"schemas"`
	} `yaml:"components"`
}

func readAsyncAPI(t *testing.T) asyncAPI {
	t.Helper()
	raw, err := os.ReadFile("../../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc asyncAPI
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	return doc
}

func (a asyncAPI) schema(t *testing.T, name string) apiSchema {
	t.Helper()
	s, ok := a.Components.Schemas[name]
	if !ok {
		t.Fatalf("asyncapi.yaml has no schema %s", name)
	}
	return s
}

// resolve follows a $ref to a component schema; a $ref with its own bounds
// beside it keeps those.
func (a asyncAPI) resolve(t *testing.T, s apiSchema) apiSchema {
	t.Helper()
	name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/")
	if !ok || s.Minimum != nil || s.Maximum != nil {
		return s
	}
	return a.schema(t, name)
}

func (a asyncAPI) enum(t *testing.T, name string) []string { return a.schema(t, name).Enum }

func (a asyncAPI) props(t *testing.T, name string) []string {
	var out []string
	for p := range a.schema(t, name).Properties {
		out = append(out, p)
	}
	return out
}
