package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
)

func TestFormatEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, tc := range []struct {
		e    api.Event
		want string
	}{
		{api.Event{Time: at, Adapter: "sim0", Kind: "reset-start", Cause: "operator"}, "03:04:05.000006 sim0     RESET_START cause operator"},
		{api.Event{Time: at, Adapter: "sim0", Kind: "reset-end", Cause: "driver", Status: "NDIS_STATUS_SUCCESS", Duration: 70 * time.Microsecond},
			"RESET_END status NDIS_STATUS_SUCCESS duration 70µs cause driver"},
		{api.Event{Time: at, Adapter: "a", Kind: "state", State: "Paused", Detail: "Pausing -> Paused"}, "state Paused (Pausing -> Paused)"},
		{api.Event{Time: at, Adapter: "a", Kind: "link", Detail: "Disconnected"}, "link Disconnected"},
		{api.Event{Time: at, Adapter: "a", Kind: "violation", Detail: "SendDoubleComplete: x"}, "VERIFIER SendDoubleComplete: x"},
		{api.Event{Time: at, Adapter: "sim0", Kind: "failed", Detail: "3 consecutive resets failed"}, "sim0     FAILED: 3 consecutive resets failed"},
		{api.Event{Time: at, Adapter: "sim0", Kind: api.KindReinitialized, Detail: "bound: traffic"}, "sim0     initialized again by the operator (bound: traffic)"},
	} {
		if got := formatEvent(tc.e); !strings.Contains(got, tc.want) || tc.e.Detail != "" && strings.Count(got, tc.e.Detail) != 1 {
			t.Errorf("formatEvent(%+v) = %q, want %q in it", tc.e, got, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, []api.Adapter{{Name: "sim0", Driver: "sim", State: "Running", Link: "Connected", TxPerSecond: 1000.4,
		Resets: map[string]api.Resets{"driver": {Performed: 2}, "operator": {Performed: 1}}, LastResetDuration: 71234 * time.Nanosecond,
		LastResetStatus: "NDIS_STATUS_SUCCESS"}})
	out := b.String()
	for _, want := range []string{"ADAPTER", "sim0", "Running", "1000", "2/0/0/1", "71µs SUCCESS", "connected"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestWriteTableFailed: a failed adapter's state is Failed, and a line
// under the table says why; the detail view has the reason too.
func TestWriteTableFailed(t *testing.T) {
	as := []api.Adapter{{Name: "sim0", Driver: "sim", State: "Halted", FailureReason: "the reset was not completed within 10s"},
		{Name: "sim1", Driver: "sim", State: "Running"}}
	var b strings.Builder
	writeTable(&b, as)
	out := b.String()
	for _, want := range []string{`(?m)^sim0\s+sim\s+Failed\s`, `(?m)^sim1\s+sim\s+Running\s`,
		`(?m)^sim0 failed: the reset was not completed within 10s \(gondis reinit sim0 initializes it again\)$`} {
		if !regexp(want).MatchString(out) {
			t.Errorf("table lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sim1 failed") {
		t.Errorf("a running adapter is said to have failed:\n%s", out)
	}
	b.Reset()
	writeDetail(&b, as[0])
	if !regexp(`(?m)^state\s+Halted\n^failed\s+the reset was not completed within 10s$`).MatchString(b.String()) {
		t.Errorf("detail lacks the reason:\n%s", b.String())
	}
	b.Reset()
	writeDetail(&b, as[1])
	if regexp(`(?m)^failed\s`).MatchString(b.String()) {
		t.Errorf("a running adapter's detail has a failure:\n%s", b.String())
	}
}

func TestPrintConfig(t *testing.T) {
	out, _, err := gondis("up", "--print-config")
	if err != nil || !strings.Contains(out, "fatal: every:3s") {
		t.Errorf("up --print-config: %v\n%s", err, out)
	}
}

// tapDetails are what a TAP adapter's miniport reports of itself.
func tapDetails() []api.Detail {
	q := func(name string, queue string, v float64) api.Detail {
		return api.Detail{Name: name, Kind: api.KindCounter, Value: v, Labels: map[string]string{"queue": queue}}
	}
	n := func(name, kind string, v float64) api.Detail { return api.Detail{Name: name, Kind: kind, Value: v} }
	return []api.Detail{
		{Name: "interface", Kind: api.KindText, Text: "gt0"},
		q("xmit_ok", "0", 3), q("rcv_ok", "0", 4), q("xmit_ok", "1", 5), q("rcv_ok", "1", 6),
		n("steering", api.KindGauge, 1),
		n("tx_checksum_offload", api.KindGauge, 0), n("large_send_offload", api.KindGauge, 1), n("receive_offload", api.KindGauge, 0),
		n("retries", api.KindCounter, 0), n("dead_errors", api.KindCounter, 1), n("resets", api.KindCounter, 1),
		n("reset_failures", api.KindCounter, 0), n("rcv_gso", api.KindCounter, 1e6),
		{Name: "last_error", Kind: api.KindText, Text: "netlink: interface deleted"},
	}
}

// TestWriteDetailTAP: `status ADAPTER` shows a TAP adapter's own view —
// its interface, its queues, its steering, its offload switches and its
// error counters — through the details its miniport reports, and a bound
// protocol's details under its name.
func TestWriteDetailTAP(t *testing.T) {
	var b strings.Builder
	writeDetail(&b, api.Adapter{Name: "tap0", Driver: "tap", Details: tapDetails(),
		Bindings: []api.Binding{{Protocol: "echo", Details: []api.Detail{{Name: "echoed", Kind: api.KindCounter, Value: 12}}}, {Protocol: "arpecho"}}})
	out := b.String()
	for _, want := range []string{`(?m)^bindings\s+echo, arpecho$`, `(?m)^tap interface\s+gt0$`,
		`(?m)^tap xmit_ok\s+queue="0": 3, queue="1": 5$`, `(?m)^tap rcv_ok\s+queue="0": 4, queue="1": 6$`,
		`(?m)^tap steering\s+1$`, `(?m)^tap tx_checksum_offload\s+0$`, `(?m)^tap large_send_offload\s+1$`,
		`(?m)^tap receive_offload\s+0$`, `(?m)^tap retries\s+0$`, `(?m)^tap dead_errors\s+1$`, `(?m)^tap resets\s+1$`,
		`(?m)^tap reset_failures\s+0$`, `(?m)^tap rcv_gso\s+1000000$`, `(?m)^tap last_error\s+netlink: interface deleted$`,
		`(?m)^echo echoed\s+12$`} {
		if !regexp(want).MatchString(out) {
			t.Errorf("detail lacks %s:\n%s", want, out)
		}
	}
	b.Reset()
	ds := tapDetails()
	ds[len(ds)-1].Text = ""
	writeDetail(&b, api.Adapter{Name: "tap0", Driver: "tap", Details: ds})
	if strings.Contains(b.String(), "last_error") {
		t.Errorf("an empty last error is shown:\n%s", b.String())
	}
	b.Reset()
	writeDetail(&b, api.Adapter{Name: "sim0", Driver: "sim"})
	if strings.Contains(b.String(), "tap") {
		t.Errorf("a sim adapter's detail shows TAP rows:\n%s", b.String())
	}
}
