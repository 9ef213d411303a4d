// Package metrics exposes lockerd's state to Prometheus on a loopback HTTP listener
// (metrics.listen), for fleets that scrape through an agent on the locker
// (docs/config.md, docs/adr/0056-prometheus-metrics.md).
//
// Every value is read from the station, the drivers and the cloud link when the page
// is scraped, except the event counter, which the station's committed events feed.
// No label ever carries a code, tracking number, hint, parcel id, courier or operator:
// the labels are event types, compartment and parcel states and driver names from the
// config, each a small fixed set.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lockerd/lockerd/locker"
	"github.com/lockerd/lockerd/mqtt/link"
)

// Driver is one driver's health as the metrics show it.
type Driver struct {
	Name, Kind string
	OK         bool
}

// Sources are where the metrics are read at scrape time. Nil funcs are left out.
// The station and the cloud link are set once they exist (SetStatus, SetLink):
// the registry exists before the station, whose committed events it counts.
type Sources struct {
	Drivers   func() []Driver
	StorePath string // the bbolt file, for its size
	Version   string
}

// Metrics is lockerd's registry.
type Metrics struct {
	reg    *prometheus.Registry
	col    *collector
	events *prometheus.CounterVec
	log    *slog.Logger
}

// New builds the registry: lockerd's own metrics, and Go's and the process's.
func New(src Sources, log *slog.Logger) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), col: &collector{src: src}, log: log}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lockerd_events_total",
		Help: "Events the station committed since lockerd started, by type (door operations: unlocked, door_opened, door_closed; alarms: jammed, forced, left_open, throttled, guessing; parcel transitions).",
	}, []string{"type"})
	m.reg.MustRegister(m.events, m.col,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetStatus sets where the station's counts are read.
func (m *Metrics) SetStatus(f func() (locker.Status, error)) {
	m.col.mu.Lock()
	defer m.col.mu.Unlock()
	m.col.status = f
}

// SetLink sets where the cloud link's counters are read; without it the link's
// metrics are left out (no cloud link configured).
func (m *Metrics) SetLink(f func() link.Stats) {
	m.col.mu.Lock()
	defer m.col.mu.Unlock()
	m.col.link = f
}

// Observe counts a committed event (locker.Options.Observer). It never blocks.
func (m *Metrics) Observe(ev locker.Event) {
	m.events.WithLabelValues(string(ev.Type)).Inc()
}

// Handler serves the exposition format. Requests whose Host is not a loopback
// address or localhost are refused, so that a web page cannot read the metrics
// through DNS rebinding.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogAdapter{m.log}})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "metrics: Host must be a loopback address or localhost", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Serve serves Handler on ln until ctx ends; a cancelled ctx is a clean stop (nil).
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Println(v ...any) { a.log.Warn("metrics", "err", v) }

var (
	descCompartments = prometheus.NewDesc("lockerd_compartments", "Compartments by state (free, busy: reserved or open for an operation, occupied, faulted, disabled).", []string{"state"}, nil)
	descParcels      = prometheus.NewDesc("lockerd_parcels", "Parcels the station holds records of, by state.", []string{"state"}, nil)
	descOutbox       = prometheus.NewDesc("lockerd_outbox_events", "Events committed and not yet acknowledged by the cloud (the outbox's depth).", nil, nil)
	descCodeFailures = prometheus.NewDesc("lockerd_code_failures_24h", "Failed code evaluations at the keypad and kiosk over the last 24 hours (ADR 0046's guessing budget).", nil, nil)
	descAudit        = prometheus.NewDesc("lockerd_audit_entries", "Sequence number of the newest audit log entry.", nil, nil)
	descDriverUp     = prometheus.NewDesc("lockerd_driver_up", "1 when the driver works now, 0 when it is failed, unplugged or still starting.", []string{"driver", "kind"}, nil)
	descLinkUp       = prometheus.NewDesc("lockerd_cloud_link_connected", "1 while the cloud link is connected to the broker.", nil, nil)
	descLinkCmds     = prometheus.NewDesc("lockerd_cloud_commands_total", "Signed commands received from the cloud, by outcome (executed, refused, duplicate, dropped).", []string{"outcome"}, nil)
	descLinkEvents   = prometheus.NewDesc("lockerd_cloud_events_acked_total", "Events the broker acknowledged since lockerd started.", nil, nil)
	descStoreSize    = prometheus.NewDesc("lockerd_store_size_bytes", "Size of the station's store file.", nil, nil)
	descStatusErr    = prometheus.NewDesc("lockerd_status_errors_total", "Scrapes at which the station's status could not be read.", nil, nil)
	descBuild        = prometheus.NewDesc("lockerd_build_info", "Always 1; the firmware version as a label.", []string{"version"}, nil)
)

// parcelStates are the states reported, zero or not, so that a series does not
// vanish when its count drops to zero.
var parcelStates = []locker.ParcelState{locker.StateAnnounced, locker.StateDeposited, locker.StatePickedUp,
	locker.StateExpired, locker.StateRetrieved, locker.StateCancelled, locker.StateRecalled}

type collector struct {
	src Sources

	mu        sync.Mutex // guards what follows; held through a scrape
	status    func() (locker.Status, error)
	link      func() link.Stats
	statusErr float64
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCompartments, descParcels, descOutbox, descCodeFailures, descAudit,
		descDriverUp, descLinkUp, descLinkCmds, descLinkEvents, descStoreSize, descStatusErr, descBuild} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gauge(descBuild, 1, c.src.Version)
	if c.status != nil {
		if st, err := c.status(); err != nil {
			c.statusErr++
		} else {
			occupied := st.Compartments - st.Free - st.Faulted - st.Disabled - st.Busy
			for state, n := range map[string]int{"free": st.Free, "busy": st.Busy, "occupied": max(occupied, 0),
				"faulted": st.Faulted, "disabled": st.Disabled} {
				gauge(descCompartments, float64(n), state)
			}
			for _, state := range parcelStates {
				gauge(descParcels, float64(st.Parcels[state]), string(state))
			}
			gauge(descOutbox, float64(st.Outbox))
			gauge(descCodeFailures, float64(st.CodeFailures24h))
			gauge(descAudit, float64(st.AuditSeq))
		}
		counter(descStatusErr, c.statusErr)
	}
	if c.src.Drivers != nil {
		for _, d := range c.src.Drivers() {
			up := 0.0
			if d.OK {
				up = 1
			}
			gauge(descDriverUp, up, d.Name, d.Kind)
		}
	}
	if c.link != nil {
		s := c.link()
		up := 0.0
		if s.Connected {
			up = 1
		}
		gauge(descLinkUp, up)
		counter(descLinkCmds, float64(s.Executed), "executed")
		counter(descLinkCmds, float64(s.Refused), "refused")
		counter(descLinkCmds, float64(s.Duplicates), "duplicate")
		counter(descLinkCmds, float64(s.Dropped), "dropped")
		counter(descLinkEvents, float64(s.Events))
	}
	if c.src.StorePath != "" {
		if fi, err := os.Stat(c.src.StorePath); err == nil {
			gauge(descStoreSize, float64(fi.Size()))
		}
	}
}
