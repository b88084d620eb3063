package netstack_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/netstack"
)

// fakeHost is a netstack bound to a fake miniport whose sends the test
// sees, and a peer the test plays by hand.
type fakeHost struct {
	fake *ndistest.Fake
	rt   *ndis.Runtime
	ifc  *netstack.Interface
	us   ndistest.Host
	peer ndistest.Host

	mu     sync.Mutex
	frames [][]byte // every frame sent, in order
}

func newFakeHost(t *testing.T, params map[string]string, setup func(f *ndistest.Fake)) *fakeHost {
	t.Helper()
	h := &fakeHost{fake: ndistest.NewFake(),
		us:   ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 1}, IP: netip.MustParseAddr("10.2.0.1")},
		peer: ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 2}, IP: netip.MustParseAddr("10.2.0.2")}}
	h.fake.General = &ndis.GeneralAttributes{CurrentMacAddress: h.us.MAC, PermanentMacAddress: h.us.MAC, MtuSize: 1500}
	h.fake.OnSend = func(l *ndis.NetBufferList) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for x := l; x != nil; x = x.Next {
			for _, f := range x.Frames {
				h.frames = append(h.frames, slices.Clone(f))
			}
		}
	}
	if setup != nil {
		setup(h.fake)
	}
	h.rt = prototest.Start(t, h.fake.Driver("fake", ndis.Version630), "f0", netstack.Driver())
	p := map[string]string{"addr": "10.2.0.1/24"}
	for k, v := range params {
		p[k] = v
	}
	h.ifc, _ = netstack.Of(prototest.Bind(t, h.rt, netstack.Name, "f0", p))
	return h
}

// sent returns the frames sent so far.
func (h *fakeHost) sent() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.frames)
}

// learnPeer has the peer ask for our address, so the stack answers and
// knows the peer's, and returns once the answer is sent.
func (h *fakeHost) learnPeer(t *testing.T) {
	t.Helper()
	h.fake.Indicate(0, ndistest.ARPRequest(h.peer, h.us.IP))
	ndistest.Eventually(t, func() bool { return len(h.sent()) >= 1 }, "the ARP reply")
}

// udpPayloads returns the payloads of the UDP datagrams among frames.
func udpPayloads(frames [][]byte) []string {
	var out []string
	for _, f := range frames {
		const ip = ndis.EthernetHeaderSize
		if len(f) < ip+28 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[ip+9] != 17 {
			continue
		}
		out = append(out, string(f[ip+28:]))
	}
	return out
}

// TestHoldDuringReset: sends completed with RESET_IN_PROGRESS are never
// sent again; between RESET_START and RESET_END the interface holds up to
// hold frames and drops the rest, counted; after RESET_END it sends what it
// held, in order, and then sends at once again.
func TestHoldDuringReset(t *testing.T) {
	h := newFakeHost(t, map[string]string{"hold": "4"}, func(f *ndistest.Fake) {
		f.HoldSends = true
		f.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending }
	})
	h.learnPeer(t)
	c, err := h.ifc.Stack().DialUDP(netip.AddrPortFrom(h.peer.IP, 9))
	must(t, err)
	defer c.Close()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := c.Write([]byte(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 3) // in flight at the fake when the reset starts
	ndistest.Eventually(t, func() bool { return h.fake.Held() == 4 }, "the ARP reply and 3 datagrams at the fake")

	must(t, h.rt.ResetAdapter("f0"))
	ndistest.Eventually(t, func() bool { return h.ifc.Stats().Holding }, "RESET_START")
	h.fake.CompleteHeld(ndis.StatusResetInProgress) // as a miniport whose reset aborts its sends
	send(3, 13)
	ndistest.Eventually(t, func() bool {
		st := h.ifc.Stats()
		return st.FramesHeld == 4 && st.Dropped.HoldFull == 6
	}, "4 datagrams held and 6 dropped (%+v)", h.ifc.Stats())
	if n := len(h.sent()); n != 4 {
		t.Fatalf("%d frames reached the miniport during the reset, want the 4 sent before", n)
	}

	h.fake.Adapter.ResetComplete(ndis.StatusSuccess, false)
	ndistest.Eventually(t, func() bool { return h.ifc.Stats().Resets == 1 && len(h.sent()) == 8 }, "the held frames sent")
	send(13, 14)
	ndistest.Eventually(t, func() bool { return len(h.sent()) == 9 }, "a datagram sent after the reset")
	want := []string{"0", "1", "2", "3", "4", "5", "6", "13"}
	if got := udpPayloads(h.sent()); !slices.Equal(got, want) {
		t.Errorf("datagrams at the miniport %q, want %q (none sent twice)", got, want)
	}
	h.fake.CompleteHeld(ndis.StatusSuccess)
	st := h.ifc.Stats()
	if st.FramesSent != 9 || st.Completed[ndis.StatusResetInProgress] != 4 || st.Completed[ndis.StatusSuccess] != 5 || st.Holding {
		t.Errorf("stats %+v", st)
	}
}

// TestAnswersPings: the stack answers an echo request itself, from the
// address it was pinged at, straight to the asker's address.
func TestAnswersPings(t *testing.T) {
	h := newFakeHost(t, nil, nil)
	h.learnPeer(t)
	h.fake.Indicate(0, ndistest.EchoRequest(h.peer, h.us, 7, 1, []byte("ping")))
	want := ndistest.EchoReply(h.us, h.peer, 7, 1, []byte("ping"))
	ndistest.Eventually(t, func() bool { return len(h.sent()) >= 2 }, "the echo reply")
	got := h.sent()[1]
	// The IPv4 header's identification and checksum are the stack's.
	const ip = ndis.EthernetHeaderSize
	if len(got) != len(want) || string(got[:ip]) != string(want[:ip]) || string(got[ip+20:]) != string(want[ip+20:]) {
		t.Errorf("reply %x\nwant  %x", got, want)
	}
	if st := h.ifc.Stats(); st.FramesReceived != 2 {
		t.Errorf("frames received %d, want 2", st.FramesReceived)
	}
}
