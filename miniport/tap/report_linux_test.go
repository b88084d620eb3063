package tap_test

import (
	"context"
	"testing"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestDetails: the runtime's Adapter.Details shows the TAP's own report —
// the interface, a frame count a queue, the switches and the resets — and
// StatsOf, Interface and OffloadOf report false once the adapter is gone.
func TestDetails(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"queues": "2"})
	if sent, got, out := bn.ping(3, "0.2", 0); sent != 3 || got != 3 {
		t.Fatalf("ping: %d/%d answered\n%s", got, sent, out)
	}
	details := func() map[string]ndis.Detail {
		t.Helper()
		m := make(map[string]ndis.Detail)
		for _, d := range bn.a.Details() {
			m[d.Name+"/"+d.Labels["queue"]] = d
		}
		return m
	}
	ds := details()
	if d := ds["interface/"]; d.Kind != ndis.DetailText || d.Text != bn.ifname {
		t.Errorf("interface: %+v, want %s", d, bn.ifname)
	}
	var xmit, rcv float64
	for _, q := range []string{"0", "1"} {
		x, r := ds["xmit_ok/"+q], ds["rcv_ok/"+q]
		if x.Kind != ndis.DetailCounter || r.Kind != ndis.DetailCounter {
			t.Errorf("queue %s: %+v, %+v", q, x, r)
		}
		xmit += x.Value
		rcv += r.Value
	}
	if xmit < 4 || rcv < 4 { // an ARP exchange and three pings each way
		t.Errorf("the queues wrote %v frames and read %v, want at least 4 each", xmit, rcv)
	}
	ts, _ := tap.StatsOf(bn.a)
	if d := ds["steering/"]; d.Kind != ndis.DetailGauge || (d.Value == 1) != ts.Steering {
		t.Errorf("steering: %+v, Stats.Steering %v", d, ts.Steering)
	}
	for _, n := range []string{"tx_checksum_offload/", "large_send_offload/", "receive_offload/"} {
		if d := ds[n]; d.Kind != ndis.DetailGauge || d.Value != 0 {
			t.Errorf("%s without vnet_hdr: %+v", n, d)
		}
	}

	if err := bn.rt.ResetAdapter("tap0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return bn.r.Stats().ResetEnds == 1 }, "RESET_END")
	ds = details()
	if d := ds["resets/"]; d.Kind != ndis.DetailCounter || d.Value != 1 {
		t.Errorf("resets after one reset: %+v", d)
	}
	if d := ds["reset_failures/"]; d.Value != 0 {
		t.Errorf("reset_failures: %+v", d)
	}

	if err := bn.rt.RemoveAdapter(context.Background(), "tap0"); err != nil {
		t.Fatal(err)
	}
	if _, ok := tap.StatsOf(bn.a); ok {
		t.Error("StatsOf of a removed adapter reports true")
	}
	if _, ok := tap.Interface(bn.a); ok {
		t.Error("Interface of a removed adapter reports true")
	}
	if _, ok := tap.OffloadOf(bn.a); ok {
		t.Error("OffloadOf of a removed adapter reports true")
	}
}
