package ndis_test

import (
	"testing"

	"github.com/gondis/gondis/ndis"
)

func TestPool(t *testing.T) {
	p := ndis.NewPool(64, 10)
	a, n := p.Get(4)
	if n != 4 || a.Len() != 4 || len(a.Frames[0]) != 64 {
		t.Fatalf("Get(4): %d NBLs, chain of %d, frame of %d bytes", n, a.Len(), len(a.Frames[0]))
	}
	b, n := p.Get(8)
	if n != 6 || b.Len() != 6 || p.Outstanding() != 10 {
		t.Fatalf("Get(8) at the limit: %d, outstanding %d", n, p.Outstanding())
	}
	a.Frames[0] = a.Frames[0][:3]
	a.Status, a.ProtocolReserved = ndis.StatusFailure, "x"
	p.Put(a)
	if p.Outstanding() != 6 {
		t.Fatalf("outstanding %d after returning 4", p.Outstanding())
	}
	// A Get smaller than the returned chain splits it.
	c, n := p.Get(3)
	if n != 3 || c.Len() != 3 || p.Outstanding() != 9 {
		t.Fatalf("Get(3): %d, chain %d, outstanding %d", n, c.Len(), p.Outstanding())
	}
	for x := c; x != nil; x = x.Next {
		if len(x.Frames) != 1 || len(x.Frames[0]) != 64 || x.Status != ndis.StatusSuccess || x.ProtocolReserved != nil {
			t.Fatalf("a reused NBL was not cleared: %+v", x)
		}
	}
	d, n := p.Get(5)
	if n != 1 || d.Len() != 1 {
		t.Fatalf("Get(5) with one free: %d", n)
	}
	p.Put(c)
	p.Put(d)
	p.Put(b)
	p.Put(ndis.NewNetBufferList([]byte{1})) // not the pool's: ignored
	if p.Outstanding() != 0 {
		t.Fatalf("outstanding %d after returning everything", p.Outstanding())
	}
}

// TestPerfectFiltered: a miniport that filters perfectly spares the runtime
// its own filtering when the only binding's filter is what the miniport was
// given; otherwise the runtime still filters.
func TestPerfectFiltered(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	_, rec := e.bindFiltered("eth0", ndis.PacketTypeBroadcast)
	other := ndis.MacAddress{2, 0, 0, 0, 0, 3}
	// The fake claims a unicast frame passed its filter: trusted.
	e.fake.Indicate(ndis.ReceiveFlagPerfectFiltered, frame(other, "trusted"))
	if rec.Received() != 1 {
		t.Fatalf("perfectly filtered frame not delivered")
	}
	// With a second binding of another filter the runtime filters again.
	_, rec2 := e.bindFiltered("eth0", ndis.PacketTypeDirected)
	e.fake.Indicate(ndis.ReceiveFlagPerfectFiltered, frame(ndis.BroadcastAddress, "bcast"))
	if rec.Received() != 2 || rec2.Received() != 0 {
		t.Fatalf("broadcast: %d to the BROADCAST binding (want 2 in all), %d to the DIRECTED one", rec.Received(), rec2.Received())
	}
}
