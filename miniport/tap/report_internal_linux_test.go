package tap

import (
	"maps"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
)

// TestReport: every counter and switch of Stats and Offload, and the
// interface name, is in the report under its name, with its kind; the
// queues' counts carry their queue's number.
func TestReport(t *testing.T) {
	m := &miniport{ifname: "gt9"}
	d := &device{queues: []*queue{{}, {}}}
	d.queues[0].xmitOK.Store(3)
	d.queues[0].rcvOK.Store(4)
	d.queues[1].xmitOK.Store(5)
	d.queues[1].rcvOK.Store(6)
	m.dev.Store(d)
	m.steering.Store(true)
	m.offload.Store(offTxChecksum | offReceive)
	for i, c := range []interface{ Add(uint64) uint64 }{&m.xmitError, &m.rcvError, &m.rcvNoBuffer, &m.retries, &m.deadErrors,
		&m.resets, &m.resetFailures, &m.rcvGSO, &m.rcvSegments, &m.xmitGSO, &m.xmitSoftSegments, &m.resubscribes} {
		c.Add(uint64(10 + i))
	}
	m.lastResetDur.Store(int64(1500 * time.Millisecond))
	e := "read: bad file descriptor"
	m.lastErr.Store(&e)

	type key struct{ name, queue string }
	got := make(map[key]ndis.Detail)
	for _, x := range m.Report() {
		k := key{x.Name, x.Labels["queue"]}
		if _, dup := got[k]; dup {
			t.Errorf("%v reported twice", k)
		}
		if x.Help == "" {
			t.Errorf("%s has no help", x.Name)
		}
		got[k] = x
	}
	want := map[key]ndis.Detail{
		{"interface", ""}:           {Kind: ndis.DetailText, Text: "gt9"},
		{"steering", ""}:            {Kind: ndis.DetailGauge, Value: 1},
		{"tx_checksum_offload", ""}: {Kind: ndis.DetailGauge, Value: 1},
		{"large_send_offload", ""}:  {Kind: ndis.DetailGauge, Value: 0},
		{"receive_offload", ""}:     {Kind: ndis.DetailGauge, Value: 1},
		{"xmit_ok", "0"}:            {Kind: ndis.DetailCounter, Value: 3},
		{"rcv_ok", "0"}:             {Kind: ndis.DetailCounter, Value: 4},
		{"xmit_ok", "1"}:            {Kind: ndis.DetailCounter, Value: 5},
		{"rcv_ok", "1"}:             {Kind: ndis.DetailCounter, Value: 6},
		{"xmit_error", ""}:          {Kind: ndis.DetailCounter, Value: 10},
		{"rcv_error", ""}:           {Kind: ndis.DetailCounter, Value: 11},
		{"rcv_no_buffer", ""}:       {Kind: ndis.DetailCounter, Value: 12},
		{"retries", ""}:             {Kind: ndis.DetailCounter, Value: 13},
		{"dead_errors", ""}:         {Kind: ndis.DetailCounter, Value: 14},
		{"resets", ""}:              {Kind: ndis.DetailCounter, Value: 15},
		{"reset_failures", ""}:      {Kind: ndis.DetailCounter, Value: 16},
		{"rcv_gso", ""}:             {Kind: ndis.DetailCounter, Value: 17},
		{"rcv_segments", ""}:        {Kind: ndis.DetailCounter, Value: 18},
		{"xmit_gso", ""}:            {Kind: ndis.DetailCounter, Value: 19},
		{"xmit_soft_segments", ""}:  {Kind: ndis.DetailCounter, Value: 20},
		{"resubscribes", ""}:        {Kind: ndis.DetailCounter, Value: 21},
		{"last_reset_seconds", ""}:  {Kind: ndis.DetailGauge, Value: 1.5},
		{"last_error", ""}:          {Kind: ndis.DetailText, Text: e},
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%v missing", k)
			continue
		}
		if g.Kind != w.Kind || g.Value != w.Value || g.Text != w.Text {
			t.Errorf("%v = %s %v %q, want %s %v %q", k, g.Kind, g.Value, g.Text, w.Kind, w.Value, w.Text)
		}
		if (k.queue != "") != (g.Labels != nil) {
			t.Errorf("%v labels %v", k, g.Labels)
		}
	}
	for k := range maps.Keys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%v reported, not expected", k)
		}
	}
}
