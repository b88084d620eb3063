package netstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/netstack"
)

// TestPingAndUDPAcrossReset: a ping and a UDP datagram sent while a's
// adapter resets are held, go out after RESET_END and are answered; after
// a reset of b's, pings and UDP echo work both ways again.
func TestPingAndUDPAcrossReset(t *testing.T) {
	// Each adapter's first reset pends a second: time to send into it.
	a, b := pair(t, map[string]string{"slow_reset": "once,for=1s"}, nil)
	a.ping(t, b.ip)
	b.ping(t, a.ip) // both know each other's address now
	pc, err := b.st.ListenUDP(b.addr(7))
	must(t, err)
	defer pc.Close()
	go udpEcho(pc)
	c, err := a.st.DialUDP(b.addr(7))
	must(t, err)
	defer c.Close()
	echoOnce(t, c, "before")

	must(t, a.rt.ResetAdapter(a.name))
	ndistest.Eventually(t, func() bool { return a.ifc.Stats().Holding }, "RESET_START on a")
	held := a.ifc.Stats().FramesHeld
	rtt := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ndistest.WaitTimeout)
		defer cancel()
		_, err := a.st.Ping(ctx, b.ip)
		rtt <- err
	}()
	if _, err := c.Write([]byte("during")); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return a.ifc.Stats().FramesHeld >= held+2 }, "the echo request and the datagram held")
	if st := a.ifc.Stats(); !st.Holding || st.Resets != 0 {
		t.Fatalf("the reset ended before the test could look: %+v", st)
	}
	c.SetReadDeadline(time.Now().Add(ndistest.WaitTimeout))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "during" {
		t.Fatalf("the datagram sent during the reset: %q, %v", buf[:n], err)
	}
	if err := <-rtt; err != nil {
		t.Fatalf("the ping sent during the reset: %v", err)
	}
	if st := a.ifc.Stats(); st.Resets != 1 || st.Holding || st.Dropped != (netstack.Drops{}) {
		t.Errorf("after the reset: %+v", st)
	}

	must(t, b.rt.ResetAdapter(b.name))
	ndistest.Eventually(t, func() bool { return b.ifc.Stats().Resets == 1 }, "RESET_END on b")
	echoOnce(t, c, "after")
	a.ping(t, b.ip)
	b.ping(t, a.ip)
	if got := a.ifc.Stats().Completed[ndis.StatusSuccess]; got == 0 {
		t.Errorf("no send completed successfully: %v", a.ifc.Stats().Completed)
	}
}

// TestLinkState: the interface follows the link its adapter indicates:
// down while a's sim waited for its peer, up once b plugged in, and down
// and up again through a flap; a flap neither holds frames nor breaks a
// connection.
func TestLinkState(t *testing.T) {
	a, b := pair(t, nil, nil)
	ndistest.Eventually(t, func() bool { return a.ifc.Stats().LinkUp && b.ifc.Stats().LinkUp }, "both links up")
	if n := a.ifc.Stats().LinkChanges; n != 1 {
		t.Errorf("a saw %d link changes, want 1: down at the bind, up when b came", n)
	}
	l, err := b.st.ListenTCP(b.addr(7))
	must(t, err)
	defer l.Close()
	go serveEcho(l)
	c, err := a.st.DialTCP(context.Background(), b.addr(7))
	must(t, err)
	defer c.Close()
	roundTrip(t, c, "before")

	before := a.ifc.Stats().LinkChanges
	a.dev.Inject(sim.FaultLinkFlap)
	ndistest.Eventually(t, func() bool { return !a.ifc.Stats().LinkUp }, "a's link down")
	ndistest.Eventually(t, func() bool { return a.ifc.Stats().LinkUp }, "a's link up again")
	if st := a.ifc.Stats(); st.LinkChanges != before+2 || st.FramesHeld != 0 {
		t.Errorf("after the flap: %+v", st)
	}
	roundTrip(t, c, "after")
}
