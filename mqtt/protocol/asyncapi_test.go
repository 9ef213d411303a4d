package protocol

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestAsyncAPIMatchesTheCode keeps docs/asyncapi.yaml honest: every
// enumeration lists exactly the Go values, and every payload schema has
// exactly the Go type's members, with the same ones required.
func TestAsyncAPIMatchesTheCode(t *testing.T) {
	raw, err := os.ReadFile("../../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AsyncAPI   string `yaml:"asyncapi"`
		Components struct {
			Schemas map[string]struct {
				Enum       []string       `yaml:"enum"`
				Required   []string       `yaml:"required"`
				Properties map[string]any `yaml:"properties"`
				Additional any            `yaml:"additionalProperties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	if doc.AsyncAPI != "3.0.0" {
		t.Fatalf("asyncapi version %q", doc.AsyncAPI)
	}
	schemas := doc.Components.Schemas

	enums := map[string][]string{
		"CommandType": toStrings(CommandTypes()), "Status": toStrings(Statuses()),
		"Reason": toStrings(Reasons()), "EventType": toStrings(EventTypes()),
		"Size": toStrings(Sizes()), "Right": toStrings(Rights()),
		"OpenReason": toStrings(OpenReasons()), "DoorOp": toStrings(DoorOps()),
		"Health": toStrings(Healths()), "ThrottleSource": toStrings(ThrottleSources()),
		"PresenceState": toStrings(PresenceStates()), "Outcome": toStrings(Outcomes()),
		"UpdateStep": toStrings(UpdateSteps()),
	}
	for name, want := range enums {
		t.Run("enum "+name, func(t *testing.T) {
			got := schemas[name].Enum
			if !slices.Equal(got, want) {
				t.Fatalf("asyncapi %v\ncode     %v", got, want)
			}
		})
	}

	types := map[string]any{
		"Claims": Claims{}, "AnnouncedParcel": AnnouncedParcel{}, "Throttle": Throttle{},
		"Reply": Reply{}, "Event": Event{}, "Presence": Presence{}, "PresenceHealth": PresenceHealth{},
		"AnnounceResult": AnnounceResult{}, "ItemResult": ItemResult{}, "InventoryResult": InventoryResult{},
		"CompartmentInfo": CompartmentInfo{}, "StatusResult": StatusResult{},
		"AuditRangeResult": AuditRangeResult{}, "AuditEntry": AuditEntry{}, "PingResult": PingResult{},
		"TimeResult": TimeResult{}, "EraseSubjectResult": EraseSubjectResult{},
		"AuditHead": AuditHead{},
	}
	for _, ct := range CommandTypes() {
		b, _ := NewBody(ct)
		types[schemaName(reflect.TypeOf(b).Elem())] = reflect.ValueOf(b).Elem().Interface()
	}
	for _, et := range EventTypes() {
		b, _ := NewEventBody(et)
		types[schemaName(reflect.TypeOf(b).Elem())] = reflect.ValueOf(b).Elem().Interface()
	}
	for name, v := range types {
		t.Run("schema "+name, func(t *testing.T) {
			s, ok := schemas[name]
			if !ok {
				t.Fatalf("asyncapi has no schema %s", name)
			}
			props, required := wireFields(reflect.TypeOf(v))
			var got []string
			for p := range s.Properties {
				got = append(got, p)
			}
			slices.Sort(got)
			if !slices.Equal(got, props) {
				t.Fatalf("members: asyncapi %v, code %v", got, props)
			}
			req := slices.Clone(s.Required)
			slices.Sort(req)
			if !slices.Equal(req, required) {
				t.Fatalf("required: asyncapi %v, code %v", req, required)
			}
		})
	}
}

// schemaName maps the Go body types to schema names; the three empty bodies
// share one schema.
func schemaName(t reflect.Type) string {
	if t.NumField() == 0 {
		return "EmptyBody"
	}
	return t.Name()
}

// wireFields returns the sorted JSON member names of a struct and the
// required ones (no omitempty/omitzero), as the strict decoder sees them.
func wireFields(t reflect.Type) (all, required []string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		all = append(all, name)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	slices.Sort(all)
	slices.Sort(required)
	return all, required
}
