// Package metrics exports the daemon's adapters to Prometheus. It is used
// only when the daemon is given --metrics ADDR. Everything but the reset
// duration histogram is read from the daemon at scrape time, by one
// collector; nothing is polled.
//
// A failed adapter stays listed, Halted, until it is initialized again,
// and is exported as the others are. Its reason is a label of
//
//	gondis_adapter_failed{adapter,reason}   1 while failed, with the reason; 0 otherwise, reason ""
//
// so that an alert on gondis_adapter_failed == 1 says why in its labels.
// The reason is the runtime's ("3 consecutive resets failed"): few per
// adapter, a new series only when an adapter fails.
//
// Beside the runtime's counters (gondis_adapter_*), it exports what each
// miniport and protocol reports of itself (ndis.Reporter, the status's
// details), with no code of the driver's:
//
//	gondis_driver_<name>_total      a miniport's counter
//	gondis_driver_<name>            a miniport's gauge
//	gondis_driver_<name>_info       a miniport's text, as an info metric: 1, the text in a label
//	gondis_protocol_<name>...       the same for a bound protocol
//
// labelled adapter, driver (or protocol) and the detail's own labels, with
// the detail's help. Counters get the _total suffix Prometheus expects of
// them. A text's label is named as the detail is
// (gondis_driver_interface_info{adapter="tap0",driver="tap",interface="gondis0"} 1),
// or "text" when that name is taken; an empty text (no last error) makes
// no series. Every metric of one name takes the help of the first detail
// of that name in the scrape. Details that cannot be metrics — a name or
// label that is not lower_snake_case, a kind at odds with the first
// detail's of the same metric name, a series given twice — are left out
// rather than failing the scrape.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/ndis"
)

// DefaultAddr is the suggested metrics address.
const DefaultAddr = "127.0.0.1:9477"

// Source is what the metrics read at each scrape.
type Source interface {
	Adapters() []api.Adapter
}

// Metrics is a Prometheus registry of the adapters' counters, read from
// the daemon at each scrape, and a reset duration histogram fed by events.
type Metrics struct {
	reg       *prometheus.Registry
	durations *prometheus.HistogramVec
}

// New returns the metrics of src. Observe must be given every runtime event.
func New(src Source) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "gondis", Name: "reset_duration_seconds",
		Help:    "Time from RESET_START to RESET_END, by adapter and cause.",
		Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10), // 10 µs … 2.6 s
	}, []string{"adapter", "cause"})
	m.reg.MustRegister(m.durations, &collector{src: src})
	return m
}

// Observe records what the histograms need from one event. It never blocks.
func (m *Metrics) Observe(ev ndis.Event) {
	if ev.Kind == ndis.EventResetEnd {
		m.durations.WithLabelValues(ev.Adapter, ev.Cause.String()).Observe(ev.Duration.Seconds())
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve listens on addr and serves /metrics until ctx ends. It returns once
// listening (or failing to), with the address it listens on; the server
// stops when ctx ends, and done is closed when it has.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) (net.Addr, <-chan struct{}, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", slog.Any("err", err))
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return l.Addr(), done, nil
}

var (
	descState = prometheus.NewDesc("gondis_adapter_state", "1 for the adapter's current operational state.",
		[]string{"adapter", "driver", "state"}, nil)
	descFailed = prometheus.NewDesc("gondis_adapter_failed",
		"1 while the adapter has failed (Halted until initialized again), with the reason; 0 otherwise.",
		[]string{"adapter", "reason"}, nil)
	descPackets = prometheus.NewDesc("gondis_adapter_packets_total", "Frames moved, by direction.",
		[]string{"adapter", "direction"}, nil)
	descBytes = prometheus.NewDesc("gondis_adapter_bytes_total", "Bytes moved, by direction.",
		[]string{"adapter", "direction"}, nil)
	descDrops = prometheus.NewDesc("gondis_adapter_drops_total",
		"NBLs not delivered: send failed or rejected at the gate, receive dropped or indicated during a reset.",
		[]string{"adapter", "reason"}, nil)
	descResets = prometheus.NewDesc("gondis_adapter_resets_total", "Resets performed, by cause.",
		[]string{"adapter", "cause"}, nil)
	descResetsFailed = prometheus.NewDesc("gondis_adapter_resets_failed_total", "Resets that failed, by cause.",
		[]string{"adapter", "cause"}, nil)
	descViolations = prometheus.NewDesc("gondis_adapter_violations_total", "Verifier findings.",
		[]string{"adapter"}, nil)
)

// states are the names of every ndis.AdapterState, for gondis_adapter_state.
var states = func() []string {
	var out []string
	for s := ndis.AdapterHalted; s <= ndis.AdapterShutdown; s++ {
		out = append(out, s.String())
	}
	return out
}()

// collector reads the adapters at scrape time: the runtime's counters and
// the drivers' and protocols' details, from one Source.Adapters call. It is
// an unchecked collector (it describes nothing): the details are known only
// when they are read.
type collector struct{ src Source }

// Describe describes nothing: the collector is unchecked.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	as := c.src.Adapters()
	for _, a := range as {
		adapterMetrics(ch, a)
	}
	ds := newDetailSet()
	for _, a := range as {
		ds.add(ch, ownerDriver, a.Name, a.Driver, a.Details)
		for _, b := range a.Bindings {
			ds.add(ch, ownerProtocol, a.Name, b.Protocol, b.Details)
		}
	}
}

// adapterMetrics sends the runtime's counters of one adapter.
func adapterMetrics(ch chan<- prometheus.Metric, a api.Adapter) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range states {
		v := 0.0
		if s == a.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, a.Name, a.Driver, s)
	}
	failed := 0.0
	if a.FailureReason != "" {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.GaugeValue, failed, a.Name, a.FailureReason)
	counter(descPackets, a.SentFrames, a.Name, "tx")
	counter(descPackets, a.ReceivedFrames, a.Name, "rx")
	counter(descBytes, a.SentBytes, a.Name, "tx")
	counter(descBytes, a.ReceivedBytes, a.Name, "rx")
	counter(descDrops, a.SendFailed, a.Name, "send_failed")
	counter(descDrops, a.SendRejected, a.Name, "send_rejected")
	counter(descDrops, a.ReceiveDropped, a.Name, "receive_dropped")
	counter(descDrops, a.ReceiveDuringReset, a.Name, "receive_during_reset")
	for _, cause := range ndis.ResetCauses() {
		r := a.Resets[cause.String()]
		counter(descResets, r.Performed, a.Name, cause.String())
		counter(descResetsFailed, r.Failed, a.Name, cause.String())
	}
	counter(descViolations, a.Violations, a.Name)
}
