package firmware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lockerd/lockerd/drivers/lockboard/lockboardtest"
	"github.com/lockerd/lockerd/firmware/control"
	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/sim"
)

// canaries are the personal data of the privacy test: each must reach lockerd and be
// used, and none may be found afterwards in its state directory, its log or its answers.
type canaries struct {
	tracking []string
	codes    []string
	pins     []string
	badges   []string
}

func (c canaries) all() map[string]string {
	out := map[string]string{}
	for kind, vs := range map[string][]string{"tracking": c.tracking, "code": c.codes, "pin": c.pins, "badge": c.badges} {
		for i, v := range vs {
			out[fmt.Sprintf("%s #%d", kind, i)] = v
		}
	}
	return out
}

// findCanaries returns the canaries that occur in data, in any of the spellings a
// leak could take (as typed, lower-case, JSON-escaped).
func findCanaries(data []byte, c map[string]string) []string {
	var hits []string
	for name, v := range c {
		for _, form := range []string{v, strings.ToLower(v)} {
			if bytes.Contains(data, []byte(form)) {
				hits = append(hits, name)
				break
			}
		}
	}
	return hits
}

func readTree(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Type()&os.ModeSymlink != 0 || e.Type()&os.ModeSocket != 0 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out[path] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPrivacyCanaries runs lockerd as a process through deposits, pickups, wrong codes,
// a bad courier PIN and an unannounced parcel, all with canary values, then scans every
// file in the state directory, the whole log and the control API's answers.
func TestPrivacyCanaries(t *testing.T) {
	cloud, err := sim.NewCloud()
	if err != nil {
		t.Fatal(err)
	}
	// Log at debug level: the most verbose log must be clean too.
	st, err := sim.NewStation(sim.StationOptions{LockerID: "CANARY-1", Dir: t.TempDir(), Cloud: cloud, LogLevel: "debug",
		Person: lockboardtest.OpenThenClose(30*time.Millisecond, 300*time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := newDaemon(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.start(ctx); err != nil {
		t.Fatal(err)
	}
	cl := d.client
	id, _ := cl.Identity(ctx)
	if err := cloud.Enrol(id.LockerID, id.Public); err != nil {
		t.Fatal(err)
	}
	c := canaries{
		tracking: []string{"RB987654326GB", "773019284756102", "CANARYX5550123", "RA000000005DE"},
		codes:    []string{"73914682", "55281937", "90817263"},
		// 8 digits: a 4-digit canary turns up by chance in hex ids and digests.
		pins:   []string{"86420975", "13579024"},
		badges: []string{"CANARY-BADGE-7F3A", "QR:CANARY-TOKEN-0042"},
	}
	parcels := []sim.Parcel{
		{ID: "p-canary-1", Tracking: c.tracking[0], Code: c.codes[0], Size: "S"},
		{ID: "p-canary-2", Tracking: c.tracking[1], Code: c.codes[1], Size: "M"},
		{ID: "p-canary-3", Tracking: c.tracking[2], Code: c.codes[1], Size: "S"},
	}
	var batch []control.Announcement
	for _, p := range parcels {
		a, err := cloud.Announcement(id.LockerID, p)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, a)
	}
	if _, err := cl.Announce(ctx, batch); err != nil {
		t.Fatal(err)
	}
	cred, _ := cloud.CourierCredential(id.LockerID, c.badges[0], c.pins[0])
	if err := cl.UpsertCourier(ctx, control.CourierRequest{ID: "c-canary", Credential: cred, Rights: locker.Rights{Deposit: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login(ctx, c.badges[1], c.pins[1]); err == nil {
		t.Fatal("an unknown badge logged in")
	}
	sid, err := cl.Login(ctx, c.badges[0], c.pins[0])
	if err != nil {
		t.Fatal(err)
	}
	seq := st.Boards.LastSeq()
	for _, tn := range []string{c.tracking[0], c.tracking[1], c.tracking[2], c.tracking[3]} {
		if _, err := cl.Scan(ctx, sid, tn, "S"); err != nil {
			t.Fatalf("scan …%s: %v", tn[len(tn)-4:], err)
		}
		waitDoorsShut(ctx, t, st, &seq)
	}
	if _, err := cl.Scan(ctx, sid, c.tracking[0][:len(c.tracking[0])-3]+"9GB", "S"); err == nil {
		t.Fatal("a wrong check digit was accepted")
	}
	if _, err := cl.Pickup(ctx, c.codes[2]); err == nil {
		t.Fatal("a wrong code opened something")
	}
	for _, code := range c.codes[:2] {
		if _, err := cl.Pickup(ctx, code); err != nil {
			t.Fatalf("pickup: %v", err)
		}
		waitDoorsShut(ctx, t, st, &seq)
	}
	var answers bytes.Buffer
	inv, _ := cl.Inventory(ctx)
	stat, _ := cl.Status(ctx)
	json.NewEncoder(&answers).Encode(inv)
	json.NewEncoder(&answers).Encode(stat)
	if err := waitIdle(ctx, cl); err != nil {
		t.Fatal(err)
	}
	d.stop()

	all := c.all()
	files := readTree(t, st.Config.StateDir)
	logData, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Positive control: the scan finds a canary where one is, and the log is not empty.
	if len(findCanaries([]byte("x"+c.codes[0]+"y"), all)) != 1 || !bytes.Contains(logData, []byte("picked_up")) {
		t.Fatal("the canary scan cannot see what it looks for")
	}
	for path, data := range files {
		if hits := findCanaries(data, all); len(hits) > 0 {
			t.Errorf("%s holds %v", path, hits)
		}
	}
	if hits := findCanaries(logData, all); len(hits) > 0 {
		t.Errorf("lockerd's log holds %v", hits)
	}
	if hits := findCanaries(answers.Bytes(), all); len(hits) > 0 {
		t.Errorf("the control API's answers hold %v", hits)
	}
	t.Logf("scanned %d state files, %d bytes of log, %d bytes of answers for %d canaries",
		len(files), len(logData), answers.Len(), len(all))
}

// waitDoorsShut waits for every door unlocked since *seq to be shut by the virtual person.
func waitDoorsShut(ctx context.Context, t *testing.T, st *sim.Station, seq *uint64) {
	t.Helper()
	for _, e := range st.Boards.History() {
		if e.Seq <= *seq || e.Kind != lockboardtest.EventUnlock {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := st.Boards.WaitEvent(wctx, e.Seq, lockboardtest.Is(lockboardtest.EventDoorClose, e.Board, e.Lock))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	*seq = st.Boards.LastSeq()
}
