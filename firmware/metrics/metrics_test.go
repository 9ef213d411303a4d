package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
)

// Scrape fetches url and parses the exposition format as Prometheus would.
func Scrape(t testing.TB, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("exposition format: %v\n%s", err, body)
	}
	return fams, body
}

// value is the sample of family name whose labels include want; ok false if none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + "/metrics"
}

// TestMetrics: every family reads its source at scrape time, events are counted by
// type, and the page parses as Prometheus's exposition format.
func TestMetrics(t *testing.T) {
	store := filepath.Join(t.TempDir(), "locker.db")
	if err := os.WriteFile(store, make([]byte, 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	drivers := []Driver{{Name: "bus0", Kind: "lockboard", OK: true}, {Name: "scanner", Kind: "scanner", OK: false}}
	m := New(Sources{Drivers: func() []Driver { return drivers }, StorePath: store, Version: "v1.2.3"}, slog.New(slog.DiscardHandler))
	status := locker.Status{Compartments: 10, Free: 5, Busy: 1, Faulted: 1, Disabled: 1, Outbox: 7, AuditSeq: 42,
		CodeFailures24h: 3, Parcels: map[locker.ParcelState]int{locker.StateDeposited: 2, locker.StatePickedUp: 9}}
	var statusErr error
	m.SetStatus(func() (locker.Status, error) { return status, statusErr })
	url := serve(t, m)

	fams, _ := Scrape(t, url)
	if _, ok := fams["lockerd_cloud_link_connected"]; ok {
		t.Error("link metrics without a cloud link")
	}
	for _, ev := range []locker.EventType{locker.EvUnlocked, locker.EvDoorOpened, locker.EvUnlocked, locker.EvJammed} {
		m.Observe(locker.Event{Type: ev, Actor: "never-a-label"})
	}
	m.SetLink(func() link.Stats { return link.Stats{Connected: true, Executed: 4, Refused: 2, Events: 11} })
	fams, body := Scrape(t, url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"lockerd_events_total", map[string]string{"type": "unlocked"}, 2},
		{"lockerd_events_total", map[string]string{"type": "jammed"}, 1},
		{"lockerd_compartments", map[string]string{"state": "free"}, 5},
		{"lockerd_compartments", map[string]string{"state": "occupied"}, 2},
		{"lockerd_parcels", map[string]string{"state": "picked_up"}, 9},
		{"lockerd_parcels", map[string]string{"state": "announced"}, 0},
		{"lockerd_outbox_events", nil, 7},
		{"lockerd_code_failures_24h", nil, 3},
		{"lockerd_audit_entries", nil, 42},
		{"lockerd_driver_up", map[string]string{"driver": "bus0", "kind": "lockboard"}, 1},
		{"lockerd_driver_up", map[string]string{"driver": "scanner"}, 0},
		{"lockerd_cloud_link_connected", nil, 1},
		{"lockerd_cloud_commands_total", map[string]string{"outcome": "refused"}, 2},
		{"lockerd_cloud_events_acked_total", nil, 11},
		{"lockerd_store_size_bytes", nil, 32768},
		{"lockerd_build_info", map[string]string{"version": "v1.2.3"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if bytes.Contains(body, []byte("never-a-label")) {
		t.Error("an event's actor reached the page")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// A status that cannot be read is counted, and its families left out.
	statusErr = errors.New("store closed")
	fams, _ = Scrape(t, url)
	if got, _ := value(fams, "lockerd_status_errors_total", nil); got != 1 {
		t.Errorf("status errors = %v, want 1", got)
	}
	if _, ok := fams["lockerd_parcels"]; ok {
		t.Error("parcel counts served from a status that failed")
	}
}

// TestMetricsHostChecked: a page in a browser that resolves its own name to 127.0.0.1
// (DNS rebinding) is refused; loopback names and addresses are served.
func TestMetricsHostChecked(t *testing.T) {
	m := New(Sources{Version: "x"}, slog.New(slog.DiscardHandler))
	url := serve(t, m)
	for host, want := range map[string]int{
		"attacker.example:9464": http.StatusMisdirectedRequest,
		"attacker.example":      http.StatusMisdirectedRequest,
		"localhost:9464":        http.StatusOK,
		"127.0.0.1":             http.StatusOK,
		"[::1]:9464":            http.StatusOK,
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}
