package policy

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidateNamesTheField: each broken rule is reported with the field's wire name.
func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		field string
		mod   func(*Policy)
	}{
		{"retention", func(p *Policy) { p.Retention = 0 }},
		{"audit_keep", func(p *Policy) { p.AuditKeep = time.Hour }},
		{"epoch_length", func(p *Policy) { p.EpochLength = time.Minute }},
		{"duplicate_scan_window", func(p *Policy) { p.DuplicateScanWindow = -1 }},
		{"code_entry.min_length", func(p *Policy) { p.CodeEntry.MinLength = MaxCodeLength + 1 }},
		{"code_entry.delay", func(p *Policy) { p.CodeEntry.Delay = 2500 * time.Millisecond }},
		{"code_entry.alarm_failures", func(p *Policy) { p.CodeEntry.AlarmFailures = 0 }},
		{"courier_throttle.max_failures", func(p *Policy) { p.CourierThrottle.MaxFailures = 21 }},
		{"code_throttle needs 0 < base_delay <= max_delay", func(p *Policy) { p.CodeThrottle.MaxDelay = time.Second }},
	} {
		p := Default()
		tc.mod(&p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), "locker: policy "+tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

// TestWithCloudKeepsTheConfigurationsFields: a cloud policy sets only what the policy
// command carries; epoch_length, audit_keep and the session and scan timings stay the
// configuration's, and a cloud policy without code_entry keeps the configured one.
func TestWithCloudKeepsTheConfigurationsFields(t *testing.T) {
	conf := Default()
	cloud := Policy{Version: 7, Retention: time.Hour, AnnouncedKeep: 2 * time.Hour, PurgeAfter: 3 * time.Hour,
		EpochLength: 99 * time.Hour, AuditKeep: 99 * time.Hour, SessionIdle: time.Second, HandoverTimeout: time.Second,
		DuplicateScanWindow: time.Second, LegacyCodes: true, DoorOpenTimeout: 4 * time.Second, LeftOpenAfter: 5 * time.Second}
	got := conf.WithCloud(cloud)
	want := conf
	want.Version, want.Retention, want.AnnouncedKeep, want.PurgeAfter = 7, time.Hour, 2*time.Hour, 3*time.Hour
	want.CodeThrottle, want.CourierThrottle = Throttle{}, Throttle{}
	want.LegacyCodes, want.DoorOpenTimeout, want.LeftOpenAfter = true, 4*time.Second, 5*time.Second
	if got != want {
		t.Fatalf("WithCloud:\n got %+v\nwant %+v", got, want)
	}
	cloud.CodeEntry = CodeEntry{MinLength: 10, Delay: 3 * time.Second, AlarmFailures: 5}
	if got := conf.WithCloud(cloud); got.CodeEntry != cloud.CodeEntry {
		t.Fatalf("code_entry not taken from the cloud: %+v", got.CodeEntry)
	}
}
