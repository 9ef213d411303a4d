package firmware_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"regexp"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/lockerd/lockerd/internal/canary"
	"github.com/lockerd/lockerd/sim"
)

// setMetricsListen has lockerd serve its metrics on a loopback port of the kernel's
// choosing; metricsURL reads it back from the start log.
func setMetricsListen(t *testing.T, st *sim.Station) {
	t.Helper()
	data, err := os.ReadFile(st.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["metrics"] = map[string]any{"listen": "127.0.0.1:0"}
	if data, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(st.ConfigPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st.Config.Metrics.Listen = "127.0.0.1:0"
}

var metricsURLPattern = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/metrics`)

func metricsURL(t *testing.T, logPath string) string {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	u := metricsURLPattern.Find(data)
	if u == nil {
		t.Fatal("lockerd logged no metrics address")
	}
	return string(u)
}

// scrapeMetrics scrapes lockerd's metrics page into rec and checks, parsed as
// Prometheus parses it, that it counted the scenario's pickups.
func scrapeMetrics(t *testing.T, url string, rec *canary.Record, pickups int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	rec.Add("GET /metrics", body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("metrics page: %v", err)
	}
	got := func(name, label, value string) float64 {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return metricValue(m)
				}
			}
		}
		return -1
	}
	if n := got("lockerd_events_total", "type", "picked_up"); n != float64(pickups) {
		t.Errorf("lockerd_events_total{type=picked_up} = %v, want %d", n, pickups)
	}
	if n := got("lockerd_parcels", "state", "picked_up"); n != float64(pickups) {
		t.Errorf("lockerd_parcels{state=picked_up} = %v, want %d", n, pickups)
	}
}

func metricValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// metricsSurface is the metrics pages scraped during the scenario.
func metricsSurface(rec *canary.Record) canary.Surface {
	s := rec.Surface("metrics page", canary.KindMetrics)
	s.MinItems = 1
	s.Expect = []string{`lockerd_events_total{type="picked_up"}`}
	return s
}
