package config

import (
	"strings"
	"testing"
)

// TestControlAdminBesideCloudLink: control.admin with an mqtt section is refused with a
// message naming both, unless control.admin_override gives a reason.
func TestControlAdminBesideCloudLink(t *testing.T) {
	const mqtt = "mqtt:\n  broker: tcp://broker.example:1883\n"
	admin := strings.Replace(example(t), "  socket: /run/lockerd/control.sock\n", "  socket: /run/lockerd/control.sock\n  admin: true\n", 1)
	if admin == example(t) {
		t.Fatal("example has no control.socket line to extend")
	}
	if _, err := Parse([]byte(admin)); err != nil {
		t.Fatalf("admin without a cloud link: %v", err)
	}
	_, err := Parse([]byte(admin + mqtt))
	if err == nil || !strings.Contains(err.Error(), "control.admin (line ") || !strings.Contains(err.Error(), "mqtt.broker") ||
		!strings.Contains(err.Error(), "control.admin_override") {
		t.Fatalf("admin beside a cloud link: %v", err)
	}
	over := strings.Replace(admin, "  admin: true\n", "  admin: true\n  admin_override: \"commissioning before the fleet has this locker, ticket 881\"\n", 1)
	c, err := Parse([]byte(over + mqtt))
	if err != nil || c.Control.AdminOverride == "" {
		t.Fatalf("admin with an override: %v", err)
	}
	blank := strings.Replace(admin, "  admin: true\n", "  admin: true\n  admin_override: \"  \"\n", 1)
	if _, err := Parse([]byte(blank + mqtt)); err == nil {
		t.Fatal("a blank override was taken as a reason")
	}
	lonely := strings.Replace(example(t), "  socket: /run/lockerd/control.sock\n", "  socket: /run/lockerd/control.sock\n  admin_override: why\n", 1)
	if _, err := Parse([]byte(lonely)); err == nil || !strings.Contains(err.Error(), "control.admin_override") {
		t.Fatalf("override without admin: %v", err)
	}
}

func TestControlPanelUIDsAndMemoryLimit(t *testing.T) {
	doc := strings.Replace(example(t), "  socket: /run/lockerd/control.sock\n", "  socket: /run/lockerd/control.sock\n  panel_uids: [0, 1001]\n", 1)
	c, err := Parse([]byte(doc + "memory_limit_mib: 100\n"))
	if err != nil || len(c.Control.PanelUIDs) != 2 || c.Control.PanelUIDs[1] != 1001 || c.MemoryLimit() != 100<<20 {
		t.Fatalf("%v %+v", err, c)
	}
	c, _ = Parse([]byte(example(t)))
	if c.MemoryLimit() != DefaultMemoryLimitMiB<<20 {
		t.Fatalf("default memory limit %d", c.MemoryLimit())
	}
	if _, err := Parse([]byte(example(t) + "memory_limit_mib: 8\n")); err == nil || !strings.Contains(err.Error(), "memory_limit_mib") {
		t.Fatalf("8 MiB: %v", err)
	}
}
