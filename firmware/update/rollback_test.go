package update

import (
	"slices"
	"testing"
)

// TestUnhealthyReleaseRollsBack: the new version never writes its health stamp within
// the configured time; the installer reinstalls the previous package, which starts and
// proves healthy again.
func TestUnhealthyReleaseRollsBack(t *testing.T) {
	l := newLocker(t, "1.0-1")
	o := l.publish("1.1-1", stubDeb(t, "1.1-1", false), l.release)
	if err := l.update(o); err != nil {
		t.Fatal(err)
	}
	l.steps()
	out, err := l.install()
	if err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	l.reportState()
	if got, want := l.steps(), []string{"installing", "installed", "rolled_back:unhealthy"}; !slices.Equal(got, want) {
		t.Errorf("steps = %v, want %v\n%s", got, want, out)
	}
	if v := l.installed(); v != "1.0-1" {
		t.Errorf("installed %q after the rollback, want 1.0-1", v)
	}
	if v := l.stamp(); v != "1.0-1" {
		t.Errorf("health stamp from %q, want 1.0-1 serving again", v)
	}
	if got := l.started(); !slices.Equal(got, []string{"1.1-1", "1.0-1"}) {
		t.Errorf("versions started = %v, want the new one then the old one", got)
	}
	if l.exists(RequestFile) {
		t.Error("the request is still spooled after the rollback")
	}
	// The fleet can try a fixed release.
	if err := l.update(l.publish("1.1-2", stubDeb(t, "1.1-2", true), l.release)); err != nil {
		t.Fatal(err)
	}
	if out, err := l.install(); err != nil {
		t.Fatalf("installer: %v\n%s", err, out)
	}
	if v := l.installed(); v != "1.1-2" {
		t.Errorf("installed %q, want 1.1-2", v)
	}
}
