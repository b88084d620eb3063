package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/ndis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixed []api.Adapter

func (f fixed) Adapters() []api.Adapter { return f }

func TestServe(t *testing.T) {
	src := fixed{{Name: "sim0", Driver: "sim", State: "Running", SentFrames: 7, ReceivedBytes: 640, SendRejected: 2,
		Violations: 1, Resets: map[string]api.Resets{"driver": {Performed: 3, Failed: 1}}},
		{Name: "sim1", Driver: "sim", State: "Halted", FailureReason: "3 consecutive resets failed"}}
	m := New(src)
	m.Observe(ndis.Event{Adapter: "sim0", Kind: ndis.EventResetEnd, Cause: ndis.CauseDriver, Duration: 50 * time.Microsecond})
	m.Observe(ndis.Event{Adapter: "sim0", Kind: ndis.EventResetStart, Cause: ndis.CauseDriver})
	ctx, cancel := context.WithCancel(context.Background())
	addr, done, err := m.Serve(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); <-done }()
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`gondis_adapter_state{adapter="sim0",driver="sim",state="Running"} 1`,
		`gondis_adapter_state{adapter="sim0",driver="sim",state="Paused"} 0`,
		`gondis_adapter_packets_total{adapter="sim0",direction="tx"} 7`,
		`gondis_adapter_bytes_total{adapter="sim0",direction="rx"} 640`,
		`gondis_adapter_drops_total{adapter="sim0",reason="send_rejected"} 2`,
		`gondis_adapter_resets_total{adapter="sim0",cause="driver"} 3`,
		`gondis_adapter_resets_total{adapter="sim0",cause="operator"} 0`,
		`gondis_adapter_resets_failed_total{adapter="sim0",cause="driver"} 1`,
		`gondis_adapter_violations_total{adapter="sim0"} 1`,
		`gondis_reset_duration_seconds_count{adapter="sim0",cause="driver"} 1`,
		`gondis_adapter_failed{adapter="sim0",reason=""} 0`,
		`gondis_adapter_failed{adapter="sim1",reason="3 consecutive resets failed"} 1`,
		`gondis_adapter_state{adapter="sim1",driver="sim",state="Halted"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = cl.Get("http://" + addr.String() + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/other: %s", resp.Status)
	}
}

// scrape returns the metrics m serves.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

// changing is a Source whose adapters a test changes between scrapes.
type changing struct {
	mu sync.Mutex
	as []api.Adapter
}

func (c *changing) Adapters() []api.Adapter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.as
}

func (c *changing) set(as []api.Adapter) {
	c.mu.Lock()
	c.as = as
	c.mu.Unlock()
}

func tapAdapter(rcv float64) api.Adapter {
	return api.Adapter{Name: "tap0", Driver: "tap", State: "Running", Details: []api.Detail{
		{Name: "interface", Help: "The kernel's interface.", Kind: api.KindText, Text: "gondis0"},
		{Name: "rcv_ok", Help: "Frames read, by queue.", Kind: api.KindCounter, Value: rcv, Labels: map[string]string{"queue": "0"}},
		{Name: "rcv_ok", Help: "Frames read, by queue.", Kind: api.KindCounter, Value: 6, Labels: map[string]string{"queue": "1"}},
		{Name: "steering", Help: "1 when a program picks the receive queue.", Kind: api.KindGauge, Value: 1},
		{Name: "last_error", Help: "The last error that asked for a reset.", Kind: api.KindText},
	}, Bindings: []api.Binding{{Protocol: "echo", Details: []api.Detail{
		{Name: "echoed", Help: "Frames sent back.", Kind: api.KindCounter, Value: 12},
	}}}}
}

// TestDetails: the drivers' and protocols' details are metrics named by
// their owner and name, labelled by adapter, driver or protocol and their
// own labels, with their help; read at each scrape.
func TestDetails(t *testing.T) {
	src := &changing{}
	src.set([]api.Adapter{tapAdapter(4)})
	m := New(src)
	body := scrape(t, m)
	for _, want := range []string{
		"# HELP gondis_driver_interface_info The kernel's interface.\n# TYPE gondis_driver_interface_info gauge\n" +
			`gondis_driver_interface_info{adapter="tap0",driver="tap",interface="gondis0"} 1`,
		"# HELP gondis_driver_rcv_ok_total Frames read, by queue.\n# TYPE gondis_driver_rcv_ok_total counter\n" +
			`gondis_driver_rcv_ok_total{adapter="tap0",driver="tap",queue="0"} 4` + "\n" +
			`gondis_driver_rcv_ok_total{adapter="tap0",driver="tap",queue="1"} 6`,
		"# TYPE gondis_driver_steering gauge\n" + `gondis_driver_steering{adapter="tap0",driver="tap"} 1`,
		"# HELP gondis_protocol_echoed_total Frames sent back.\n# TYPE gondis_protocol_echoed_total counter\n" +
			`gondis_protocol_echoed_total{adapter="tap0",protocol="echo"} 12`,
		`gondis_adapter_state{adapter="tap0",driver="tap",state="Running"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack\n%s\nin\n%s", want, body)
		}
	}
	if strings.Contains(body, "last_error") {
		t.Errorf("an empty text made a series:\n%s", body)
	}

	// The next scrape reads the adapters again.
	src.set([]api.Adapter{tapAdapter(40)})
	if body := scrape(t, m); !strings.Contains(body, `gondis_driver_rcv_ok_total{adapter="tap0",driver="tap",queue="0"} 40`) {
		t.Errorf("the second scrape did not read the new value:\n%s", body)
	}
}

// TestDetailsLeftOut: details that cannot be metrics are left out, and the
// scrape still succeeds with everything else; a detail of a name already
// seen takes that name's help.
func TestDetailsLeftOut(t *testing.T) {
	a := api.Adapter{Name: "x0", Driver: "x", Details: []api.Detail{
		{Name: "frames", Help: "Frames.", Kind: api.KindCounter, Value: 1},
		{Name: "frames", Help: "Frames again.", Kind: api.KindCounter, Value: 2},                      // a series twice
		{Name: "frames_total", Help: "A gauge.", Kind: api.KindGauge, Value: 3},                       // a counter's name
		{Name: "Bad-Name", Kind: api.KindGauge, Value: 4},                                             // not lower_snake_case
		{Name: "depth", Kind: api.KindGauge, Value: 5, Labels: map[string]string{"adapter": "other"}}, // a taken label
		{Name: "depth", Kind: api.KindGauge, Value: 6, Labels: map[string]string{"Bad Label": "1"}},   // a bad label
		{Name: "mode", Kind: api.KindText, Text: "fast", Labels: map[string]string{"mode": "m"}},      // its label is taken: "text"
		{Name: "odd", Kind: "fraction", Value: 7},                                                     // no such kind
		{Name: "note", Kind: api.KindText, Text: "\xff"},                                              // not UTF-8
		{Name: "ok", Kind: api.KindGauge, Value: 8},
	}}
	b := api.Adapter{Name: "y0", Driver: "y", Details: []api.Detail{{Name: "frames", Help: "Y's frames.", Kind: api.KindCounter, Value: 9}}}
	body := scrape(t, New(fixed{a, b}))
	for _, want := range []string{
		"# HELP gondis_driver_frames_total Frames.\n# TYPE gondis_driver_frames_total counter\n" +
			`gondis_driver_frames_total{adapter="x0",driver="x"} 1` + "\n" + `gondis_driver_frames_total{adapter="y0",driver="y"} 9`,
		`gondis_driver_mode_info{adapter="x0",driver="x",mode="m",text="fast"} 1`,
		"# HELP gondis_driver_ok ok, as the driver reports it.\n",
		`gondis_driver_ok{adapter="x0",driver="x"} 8`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack\n%s\nin\n%s", want, body)
		}
	}
	for _, bad := range []string{"Again", "} 2\n", "} 3\n", "Bad", "depth", "odd", "note"} {
		if strings.Contains(body, bad) {
			t.Errorf("metrics have %q:\n%s", bad, body)
		}
	}
}
