package daemon_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/cmd/gondis/internal/metrics"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// reportingNIC is a fake miniport that reports details of its own: a
// counter, a gauge per queue and its interface's name.
type reportingNIC struct {
	*ndistest.Fake
	frames atomic.Uint64
}

var (
	_ ndis.Miniport    = (*reportingNIC)(nil)
	_ ndis.Resetter    = (*reportingNIC)(nil)
	_ ndis.HangChecker = (*reportingNIC)(nil)
	_ ndis.Reporter    = (*reportingNIC)(nil)
)

func (n *reportingNIC) Report() []ndis.Detail {
	return []ndis.Detail{
		{Name: "frames", Help: "Frames the device moved.", Kind: ndis.DetailCounter, Value: float64(n.frames.Load())},
		{Name: "ring_fill", Help: "Descriptors in use, by queue.", Kind: ndis.DetailGauge, Value: 7, Labels: map[string]string{"queue": "0"}},
		{Name: "ring_fill", Help: "Descriptors in use, by queue.", Kind: ndis.DetailGauge, Value: 9, Labels: map[string]string{"queue": "1"}},
		{Name: "interface", Help: "The device's interface.", Kind: ndis.DetailText, Text: "fk0"},
	}
}

// driver returns the miniport driver "fakenic" whose one adapter is n.
func (n *reportingNIC) driver() ndis.MiniportDriver {
	d := n.Fake.Driver("fakenic", ndis.Version630)
	init := d.Initialize
	d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		if _, err := init(a, p); err != nil {
			return nil, err
		}
		return n, nil
	}
	return d
}

// watcher is a recording protocol that reports how many statuses it heard.
type watcher struct{ *ndistest.Recorder }

var (
	_ ndis.Protocol = watcher{}
	_ ndis.Unbinder = watcher{}
	_ ndis.Reporter = watcher{}
)

func (w watcher) Report() []ndis.Detail {
	return []ndis.Detail{{Name: "statuses", Help: "Status indications heard.", Kind: ndis.DetailCounter,
		Value: float64(len(w.Statuses()))}}
}

// watcherDriver returns the protocol driver "watch" whose bindings are
// watchers.
func watcherDriver() ndis.ProtocolDriver {
	d := ndistest.NewRecorderDriver("watch").Driver()
	bind := d.BindAdapter
	d.BindAdapter = func(b *ndis.Binding) (ndis.Protocol, error) {
		p, err := bind(b)
		if err != nil {
			return nil, err
		}
		return watcher{p.(*ndistest.Recorder)}, nil
	}
	return d
}

// startReporting starts a daemon hosting r0, a reportingNIC with a watcher
// bound, and quiet0, a fake miniport that reports nothing, with a watcher
// too.
func startReporting(t *testing.T, nic *reportingNIC) *daemon.Daemon {
	t.Helper()
	table := daemon.Builtin()
	table.Miniports = append(table.Miniports, nic.driver(), ndistest.NewFake().Driver("quiet", ndis.Version630))
	table.Protocols = append(table.Protocols, watcherDriver())
	return startWith(t, table, "adapters:\n  - name: r0\n    driver: fakenic\n  - name: quiet0\n    driver: quiet\n"+
		"bindings:\n  - protocol: watch\n    adapter: r0\n  - protocol: watch\n    adapter: quiet0\n", nil)
}

// TestDetails: an adapter's status carries what its miniport reports, and
// each binding what its protocol reports, read when the status is asked
// for; in JSON too.
func TestDetails(t *testing.T) {
	nic := &reportingNIC{Fake: ndistest.NewFake()}
	nic.frames.Store(3)
	d := startReporting(t, nic)

	a, ok := d.Adapter("r0")
	if !ok {
		t.Fatal("no r0")
	}
	want := []api.Detail{
		{Name: "frames", Help: "Frames the device moved.", Kind: "counter", Value: 3},
		{Name: "ring_fill", Help: "Descriptors in use, by queue.", Kind: "gauge", Value: 7, Labels: map[string]string{"queue": "0"}},
		{Name: "ring_fill", Help: "Descriptors in use, by queue.", Kind: "gauge", Value: 9, Labels: map[string]string{"queue": "1"}},
		{Name: "interface", Help: "The device's interface.", Kind: "text", Text: "fk0"},
	}
	if !reflect.DeepEqual(a.Details, want) {
		t.Errorf("r0 details\n%+v, want\n%+v", a.Details, want)
	}
	if len(a.Bindings) != 1 || a.Bindings[0].Protocol != "watch" || len(a.Bindings[0].Details) != 1 ||
		a.Bindings[0].Details[0].Name != "statuses" || a.Bindings[0].Details[0].Kind != "counter" {
		t.Errorf("r0 bindings %+v", a.Bindings)
	}

	nic.frames.Add(1)
	if a, _ := d.Adapter("r0"); a.Details[0].Value != 4 {
		t.Errorf("frames %v after one more, want 4: details are read when asked for", a.Details[0].Value)
	}

	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`"details":[{"name":"frames","help":"Frames the device moved.","kind":"counter","value":3}`,
		`{"name":"ring_fill","help":"Descriptors in use, by queue.","kind":"gauge","value":9,"labels":{"queue":"1"}}`,
		`{"name":"interface","help":"The device's interface.","kind":"text","value":0,"text":"fk0"}`,
		`"bindings":[{"protocol":"watch","details":[{"name":"statuses",`,
	} {
		if !strings.Contains(string(b), s) {
			t.Errorf("JSON lacks %s:\n%s", s, b)
		}
	}

	q, _ := d.Adapter("quiet0")
	if q.Details == nil || len(q.Details) != 0 || len(q.Bindings) != 1 || len(q.Bindings[0].Details) != 1 {
		t.Errorf("quiet0, no Reporter: details %#v, bindings %+v", q.Details, q.Bindings)
	}
	b, _ = json.Marshal(q)
	if !strings.Contains(string(b), `"details":[]`) {
		t.Errorf("quiet0 JSON: %s", b)
	}
}

// TestDetailsMetrics: the metrics export the details of a running daemon,
// read from the drivers at each scrape.
func TestDetailsMetrics(t *testing.T) {
	nic := &reportingNIC{Fake: ndistest.NewFake()}
	nic.frames.Store(3)
	m := metrics.New(startReporting(t, nic))
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		"# HELP gondis_driver_frames_total Frames the device moved.\n# TYPE gondis_driver_frames_total counter\n" +
			`gondis_driver_frames_total{adapter="r0",driver="fakenic"} 3`,
		"# TYPE gondis_driver_ring_fill gauge\n" + `gondis_driver_ring_fill{adapter="r0",driver="fakenic",queue="0"} 7` + "\n" +
			`gondis_driver_ring_fill{adapter="r0",driver="fakenic",queue="1"} 9`,
		`gondis_driver_interface_info{adapter="r0",driver="fakenic",interface="fk0"} 1`,
		"# TYPE gondis_protocol_statuses_total counter\n",
		`gondis_protocol_statuses_total{adapter="quiet0",protocol="watch"} `,
		`gondis_protocol_statuses_total{adapter="r0",protocol="watch"} `,
		`gondis_adapter_state{adapter="quiet0",driver="quiet",state="Running"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack\n%s\nin\n%s", want, body)
		}
	}
	if strings.Contains(body, `gondis_driver_frames_total{adapter="quiet0"`) {
		t.Error("quiet0 reports nothing, yet has driver details")
	}
	nic.frames.Store(10)
	if body := scrape(); !strings.Contains(body, `gondis_driver_frames_total{adapter="r0",driver="fakenic"} 10`) {
		t.Errorf("the second scrape did not read the driver again:\n%s", body)
	}
}
