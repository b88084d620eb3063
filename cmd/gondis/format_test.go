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
	} {
		if got := formatEvent(tc.e); !strings.Contains(got, tc.want) {
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

func TestPrintConfig(t *testing.T) {
	out, _, err := gondis("up", "--print-config")
	if err != nil || !strings.Contains(out, "fatal: every:3s") {
		t.Errorf("up --print-config: %v\n%s", err, out)
	}
}

func TestWriteDetailTAP(t *testing.T) {
	var b strings.Builder
	writeDetail(&b, api.Adapter{Name: "tap0", Driver: "tap", TAP: &api.TAP{Interface: "gt0",
		Queues: []api.Queue{{XmitOK: 3, RcvOK: 4}, {XmitOK: 5, RcvOK: 6}}, Steering: true, LargeSend: true,
		DeadErrors: 1, Resets: 1, LastError: "netlink: interface deleted"}})
	out := b.String()
	for _, want := range []string{"tap interface", "gt0", "3/4 5/6; steering by program",
		"tx checksum off, large send on, receive off", "0 / 1 / 1 / 0", "netlink: interface deleted"} {
		if !strings.Contains(out, want) {
			t.Errorf("detail lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeDetail(&b, api.Adapter{Name: "sim0", Driver: "sim"})
	if strings.Contains(b.String(), "tap") {
		t.Errorf("a sim adapter's detail shows TAP rows:\n%s", b.String())
	}
}
