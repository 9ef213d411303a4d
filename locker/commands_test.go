package locker

import (
	"errors"
	"testing"
	"time"
)

func TestCommandLog(t *testing.T) {
	f := newFixture(t, mixedSpecs())
	exp := f.clock.Now().Add(time.Minute)
	prior, err := f.st.CommandBegin("cmd-1", exp)
	if err != nil || prior != nil {
		t.Fatalf("new id: %q %v", prior, err)
	}
	if _, err := f.st.CommandBegin("cmd-1", exp); !errors.Is(err, ErrCommandInProgress) {
		t.Fatalf("begun, not finished: %v", err)
	}
	f.restart()
	if _, err := f.st.CommandBegin("cmd-1", exp); !errors.Is(err, ErrCommandInProgress) {
		t.Fatalf("in progress survives a crash: %v", err)
	}
	if err := f.st.CommandFinish("cmd-1", []byte(`{"status":"done"}`)); err != nil {
		t.Fatal(err)
	}
	prior, err = f.st.CommandBegin("cmd-1", exp)
	if err != nil || string(prior) != `{"status":"done"}` {
		t.Fatalf("duplicate: %q %v", prior, err)
	}
	if err := f.st.CommandFinish("never-begun", nil); err == nil {
		t.Fatal("finished an unknown command")
	}
	if _, err := f.st.CommandBegin("", exp); err == nil {
		t.Fatal("empty id")
	}
	f.tick(2 * time.Minute)
	prior, err = f.st.CommandBegin("cmd-1", exp.Add(time.Hour))
	if err != nil || prior != nil {
		t.Fatalf("an expired id is forgotten: %q %v", prior, err)
	}
}
