package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
		Violations: 1, Resets: map[string]api.Resets{"driver": {Performed: 3, Failed: 1}}}}
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
