package ndis_test

import (
	"testing"

	"github.com/gondis/gondis/ndis"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	if a.State() != ndis.AdapterRunning {
		t.Fatalf("state %v", a.State())
	}
	b, rec := e.bindFiltered("eth0", ndis.PacketTypePromiscuous)
	b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
	if rec.Completed() != 1 {
		t.Fatalf("completed %d", rec.Completed())
	}
	e.fake.Indicate(0, frame(ndis.BroadcastAddress, "y"))
	if rec.Received() != 1 {
		t.Fatalf("received %d", rec.Received())
	}
	e.reset("eth0")
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	t.Log(rec.Statuses(), e.fake.Calls())
}
