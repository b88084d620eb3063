package sim_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gondis/gondis/internal/param/paramtest"
	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

func TestDriver(t *testing.T) {
	for _, d := range []ndis.MiniportDriver{sim.Driver(), sim.DriverWith(sim.Options{Clock: ndistest.NewFakeClock()})} {
		if d.Name != "sim" || d.Version != ndis.Version630 || d.Initialize == nil || d.ValidateParams == nil {
			t.Fatalf("driver %q %s, Initialize set %v, ValidateParams set %v", d.Name, d.Version, d.Initialize != nil, d.ValidateParams != nil)
		}
	}
}

// TestParams: good parameters configure the device; each bad one fails
// Initialize with an *ndis.ParamError that wraps StatusInvalidParameter and names
// the key, and never panics.
func TestParams(t *testing.T) {
	paramtest.DocLists(t, "doc.go", sim.ParamDoc())

	e := newEnv(t, false)
	a, d := e.add("good", map[string]string{
		"mac": "02:aa:bb:cc:dd:ee", "mtu": "9000", "link_speed": "1000000000", "tx_ring": "8",
		"rx_ring": "16", "latency": "10us", "send_timeout": "3s", "hang": "off", "fatal": "every:1h",
		"lose_addressing": "once:1h,count=2", "slow_reset": "random:0,seed=3", "fail_reset": "off",
		"stuck_oid": "off", "link_flap": "off", "rx_storm": "random:0,seed=1,check=1s,frames=4",
	})
	if d.MAC() != (ndis.MacAddress{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}) || a.MacAddress() != d.MAC() {
		t.Errorf("mac: device %s, adapter %s", d.MAC(), a.MacAddress())
	}
	if d.SendTimeout() != 3*time.Second || d.Wire() != "" || d.Peer() != nil || !d.LinkUp() {
		t.Errorf("send_timeout %s, wire %q, peer %v, link %v", d.SendTimeout(), d.Wire(), d.Peer(), d.LinkUp())
	}
	if f := d.Fault(sim.FaultLoseAddressing); f.Trigger != sim.TriggerOnce || f.Delay != time.Hour || f.Count != 2 {
		t.Errorf("lose_addressing: %+v", f)
	}
	if l := a.Link(); l.XmitLinkSpeed != 1e9 || l.MediaConnectState != ndis.MediaConnectStateConnected {
		t.Errorf("link %+v", l)
	}
	r := e.bind("good")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if v, s := ndistest.QueryUlong(ctx, r.B, ndis.OIDGenMaximumFrameSize); s != ndis.StatusSuccess || v != 9000 {
		t.Errorf("maximum frame size: %s %d", s, v)
	}
	if def := sim.DefaultMAC("x"); def[0] != 0x02 || def == sim.DefaultMAC("y") {
		t.Errorf("DefaultMAC: %s %s", def, sim.DefaultMAC("y"))
	}

	bad := []struct{ key, value, reason string }{
		{"mtu", "67", "68 to 65535"},
		{"mtu", "x", "integer"},
		{"mac", "01:00:5e:00:00:01", "multicast"},
		{"mac", "00:00:00:00:00:00", "zero"},
		{"mac", "02:00:00:00:00:00:00:01", "48-bit"},
		{"mac", "nope", "MAC"},
		{"link_speed", "0", "positive"},
		{"tx_ring", "0", "descriptors"},
		{"rx_ring", "4097", "descriptors"},
		{"latency", "-1ms", "duration"},
		{"latency", "fast", "duration"},
		{"send_timeout", "0s", "positive"},
		{"flow_control", "maybe", "true or false"},
		{"wire", "a wire", "letters"},
		{"wire", strings.Repeat("w", 65), "letters"},
		{"colour", "blue", "unknown parameter"},
		{"peer", "other", "unknown parameter"},
		{"hang", "sometimes", "unknown trigger"},
		{"fatal", "every:0s", "period"},
		{"fatal", "every", "needs an argument"},
		{"fatal", "random:1.5", "probability"},
		{"fatal", "random:0.1,seed=-1", "seed"},
		{"hang", "once,count=2", "count applies only"},
		{"stuck_oid", "random:0.5,check=1s", "check applies only"},
		{"rx_storm", "once,for=1s", "for applies only"},
		{"link_flap", "once,frames=3", "frames applies only"},
		{"fail_reset", "once,count=0", "count=0"},
		{"slow_reset", "once,for=0s", "positive duration"},
		{"hang", "once,for=1s,for=2s", "twice"},
		{"hang", "once,bogus=1", "unknown option"},
		{"hang", "once,", "name=value"},
	}
	for i, c := range bad {
		name := "bad" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		_, err := e.rt.AddAdapter(context.Background(), name, "sim", map[string]string{c.key: c.value})
		var pe *ndis.ParamError
		switch {
		case err == nil:
			t.Errorf("%s=%q: accepted", c.key, c.value)
		case !errors.Is(err, ndis.StatusInvalidParameter) || !errors.As(err, &pe):
			t.Errorf("%s=%q: %v, not a *ParamError wrapping StatusInvalidParameter", c.key, c.value, err)
		case pe.Key != c.key || pe.Value != c.value || pe.Driver != "sim" || !strings.Contains(pe.Reason, c.reason):
			t.Errorf("%s=%q: %+v, want a reason with %q", c.key, c.value, pe, c.reason)
		}
		// ValidateParams finds the same error without an adapter.
		if verr := e.rt.ValidateAdapterParams("sim", map[string]string{c.key: c.value}); pe != nil && (verr == nil || verr.Error() != pe.Error()) {
			t.Errorf("%s=%q: ValidateAdapterParams = %v, want %v", c.key, c.value, verr, pe)
		}
	}

	// At most two adapters on one wire.
	w := wireName(t)
	e.add("w1", map[string]string{"wire": w})
	e.add("w2", map[string]string{"wire": w})
	_, err := e.rt.AddAdapter(context.Background(), "w3", "sim", map[string]string{"wire": w})
	var pe *ndis.ParamError
	if !errors.As(err, &pe) || pe.Key != "wire" || pe.Driver != "sim" || !errors.Is(err, ndis.StatusInvalidParameter) {
		t.Errorf("third adapter on a wire: %v", err)
	}
}

// TestEcho: a looped-back adapter receives what it sends, byte for byte and
// in order; an NBL of several frames spans a small ring; bad lengths and
// empty NBLs complete at once; the OID counters agree.
func TestEcho(t *testing.T) {
	e := newEnv(t, false)
	a, d := e.add("sim0", map[string]string{"tx_ring": "4", "rx_ring": "64"})
	r := e.bind("sim0")
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast)
	me := d.MAC()

	var want [][]byte
	var sent []*ndis.NetBufferList
	seq := uint32(0)
	next := func(dst ndis.MacAddress, n int) []byte {
		seq++
		return frame(dst, me, seq, n)
	}
	for round := range 20 {
		var chain []*ndis.NetBufferList
		for i := range 10 {
			var l *ndis.NetBufferList
			switch (round + i) % 7 {
			case 0: // six NET_BUFFERs: more than the ring holds; each is received as an NBL
				fs := [][]byte{next(me, 60), next(me, 1514), next(ndis.BroadcastAddress, 61), next(me, 62), next(me, 63), next(me, 64)}
				l = ndis.NewNetBufferList(fs...)
				want = append(want, fs...)
			case 1:
				l = ndis.NewNetBufferList(next(me, 100), next(me, 1515)) // one frame too long: fails whole
			case 2:
				l = ndis.NewNetBufferList(make([]byte, 13)) // shorter than a header
			case 3:
				l = ndis.NewNetBufferList() // no frame: completes at once
			default:
				f := next(ndis.BroadcastAddress, 200+i)
				l = ndis.NewNetBufferList(f)
				want = append(want, f)
			}
			chain = append(chain, l)
		}
		sent = append(sent, chain...)
		r.B.SendNetBufferLists(ndis.Chain(chain...))
	}
	waitCompleted(t, r, len(sent))
	waitReceived(t, r, len(want))
	for _, x := range sent {
		wantStatus := ndis.StatusSuccess
		for _, f := range x.Frames {
			if len(f) < 14 || len(f) > 1514 {
				wantStatus = ndis.StatusInvalidLength
			}
		}
		if x.Status != wantStatus || r.CompletedTimes(x) != 1 {
			t.Fatalf("NBL of %d frames: %s, completed %d times; want %s once", len(x.Frames), x.Status, r.CompletedTimes(x), wantStatus)
		}
	}
	got := r.ReceivedFrames()
	if len(got) != len(want) {
		t.Fatalf("received %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	st := d.Stats()
	if st.TxFrames != uint64(len(want)) || st.RxIndicated != uint64(len(want)) || st.TxQueued != 0 || st.TxRing != 0 {
		t.Errorf("stats %+v, want %d frames each way and empty queues", st, len(want))
	}
	if x, rx := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenXmitOK), ndistest.MustQueryCounter(t, r.B, ndis.OIDGenRcvOK); x != uint64(len(want)) || rx != uint64(len(want)) {
		t.Errorf("XMIT_OK %d, RCV_OK %d, want %d", x, rx, len(want))
	}
	if as := a.Stats(); as.ReceivedFrames != uint64(len(want)) || as.ReceiveDropped != 0 {
		t.Errorf("runtime: received %d, dropped %d", as.ReceivedFrames, as.ReceiveDropped)
	}
}

// TestPair: two adapters on one wire carry frames both ways at once, intact
// and in order; each end's link follows the other's presence.
func TestPair(t *testing.T) {
	e := newEnv(t, false)
	w := wireName(t)
	a, da := e.add("a", map[string]string{"wire": w})
	if da.LinkUp() || a.Link().MediaConnectState != ndis.MediaConnectStateDisconnected {
		t.Fatalf("a alone on the wire: link up")
	}
	ra := e.bind("a")
	b, db := e.add("b", map[string]string{"wire": w})
	rb := e.bind("b")
	if da.Peer() != db || db.Peer() != da || da.Wire() != w {
		t.Fatalf("peers: %v %v", da.Peer(), db.Peer())
	}
	ndistest.Eventually(t, func() bool { return len(linkStates(ra)) > 0 }, "a's link indication")
	if got := linkStates(ra); len(got) != 1 || got[0] != ndis.MediaConnectStateConnected || a.Link().MediaConnectState != ndis.MediaConnectStateConnected {
		t.Fatalf("a's link indications %v", got)
	}
	if b.Link().MediaConnectState != ndis.MediaConnectStateConnected {
		t.Fatalf("b's link: %s", b.Link().MediaConnectState)
	}
	ndistest.MustSetPacketFilter(t, ra.B, ndis.PacketTypeDirected)
	ndistest.MustSetPacketFilter(t, rb.B, ndis.PacketTypeDirected)

	const n = 300
	toB := frames(db.MAC(), da.MAC(), 0, n, 128)
	toA := frames(da.MAC(), db.MAC(), 1_000_000, n, 1514)
	var wg sync.WaitGroup
	for _, c := range []struct {
		r  *ndistest.Recorder
		fs [][]byte
	}{{ra, toB}, {rb, toA}} {
		wg.Go(func() {
			for i := 0; i < n; i += 30 {
				send(c.r, c.fs[i:i+30]...)
			}
		})
	}
	// a also sends to its own address: the wire takes it to b, whose filter drops it.
	send(ra, frame(da.MAC(), da.MAC(), 7, 64))
	wg.Wait()
	waitCompleted(t, ra, n+1)
	waitCompleted(t, rb, n)
	waitReceived(t, ra, n)
	waitReceived(t, rb, n)
	for _, c := range []struct {
		name string
		r    *ndistest.Recorder
		want [][]byte
	}{{"a", ra, toA}, {"b", rb, toB}} {
		got := c.r.ReceivedFrames()
		if len(got) != len(c.want) {
			t.Fatalf("%s received %d frames, want %d", c.name, len(got), len(c.want))
		}
		for i := range got {
			if !bytes.Equal(got[i], c.want[i]) {
				t.Fatalf("%s: frame %d differs", c.name, i)
			}
		}
		if m := c.r.CompletedByStatus(); m[ndis.StatusSuccess] != c.r.Completed() {
			t.Fatalf("%s: completions %v", c.name, m)
		}
	}
	if st := db.Stats(); st.RxFiltered != 1 || st.RxIndicated != n {
		t.Errorf("b: filtered %d, indicated %d", st.RxFiltered, st.RxIndicated)
	}
	if x := ndistest.MustQueryCounter(t, ra.B, ndis.OIDGenXmitOK); x != n+1 {
		t.Errorf("a XMIT_OK %d", x)
	}

	// b goes away: a's link goes down and its frames are lost on the wire.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.rt.RemoveAdapter(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := sim.DeviceOf(b); ok {
		t.Error("DeviceOf a removed adapter")
	}
	ndistest.Eventually(t, func() bool { return a.Link().MediaConnectState == ndis.MediaConnectStateDisconnected }, "a's link down")
	send(ra, frame(db.MAC(), da.MAC(), 9, 64))
	waitCompleted(t, ra, n+2)
	if st := da.Stats(); st.TxLinkDown != 1 || da.Peer() != nil {
		t.Errorf("a after b left: lost %d frames, peer %v", st.TxLinkDown, da.Peer())
	}
	// A new b plugs in: the link comes back.
	e.add("b2", map[string]string{"wire": w})
	ndistest.Eventually(t, func() bool { return a.Link().MediaConnectState == ndis.MediaConnectStateConnected }, "a's link up again")
}

// TestHardwareFilter: the device drops what its filter registers do not
// accept, with the rules of the runtime's binding filter, before the
// runtime sees it.
func TestHardwareFilter(t *testing.T) {
	e := newEnv(t, false)
	a, d := e.add("sim0", nil)
	r := e.bind("sim0")
	me := d.MAC()
	probe := [][]byte{
		frame(me, otherMAC, 1, 64),                    // 0 directed to us
		frame(otherMAC, me, 2, 64),                    // 1 directed elsewhere
		frame(ndis.BroadcastAddress, otherMAC, 3, 64), // 2 broadcast
		frame(mcastIn, otherMAC, 4, 64),               // 3 multicast in the list
		frame(mcastOut, otherMAC, 5, 64),              // 4 multicast not in it
		make([]byte, 1515),                            // 5 too long for the MTU
	}
	copy(probe[5], me[:])
	cases := []struct {
		name string
		pf   uint32
		want []int
	}{
		{"none", 0, nil},
		{"directed", ndis.PacketTypeDirected, []int{0}},
		{"broadcast", ndis.PacketTypeBroadcast, []int{2}},
		{"multicast", ndis.PacketTypeMulticast, []int{3}},
		{"all-multicast", ndis.PacketTypeAllMulticast, []int{3, 4}}, // broadcast needs BROADCAST
		{"all-multicast+broadcast", ndis.PacketTypeAllMulticast | ndis.PacketTypeBroadcast, []int{2, 3, 4}},
		{"directed+multicast", ndis.PacketTypeDirected | ndis.PacketTypeMulticast, []int{0, 3}},
		{"promiscuous", ndis.PacketTypePromiscuous, []int{0, 1, 2, 3, 4}},
	}
	ndistest.MustSetMulticastList(t, r.B, []ndis.MacAddress{mcastIn})
	for _, c := range cases {
		if c.pf != 0 {
			ndistest.MustSetPacketFilter(t, r.B, c.pf)
		}
		if f := d.Filter(); f.PacketFilter != c.pf || len(f.Multicast) != 1 || f.Multicast[0] != mcastIn {
			t.Fatalf("%s: device filter %+v", c.name, f)
		}
		before, st := r.Received(), d.Stats()
		d.Deliver(probe...)
		waitReceived(t, r, before+len(c.want))
		// The hardware's verdict is final; the runtime drops nothing.
		ndistest.Eventually(t, func() bool {
			s := d.Stats()
			return s.RxFrames+s.RxFiltered+s.RxErrors == st.RxFrames+st.RxFiltered+st.RxErrors+uint64(len(probe)) &&
				s.RxIndicated == st.RxIndicated+uint64(len(c.want))
		}, "%s: the device's verdict", c.name)
		got := r.ReceivedFrames()[before:]
		if len(got) != len(c.want) {
			t.Fatalf("%s: received %d frames, want %d", c.name, len(got), len(c.want))
		}
		for i, k := range c.want {
			if !bytes.Equal(got[i], probe[k]) {
				t.Fatalf("%s: frame %d is not probe %d", c.name, i, k)
			}
		}
		s := d.Stats()
		if s.RxFiltered-st.RxFiltered != uint64(len(probe)-1-len(c.want)) || s.RxErrors-st.RxErrors != 1 {
			t.Fatalf("%s: filtered %d, errors %d", c.name, s.RxFiltered-st.RxFiltered, s.RxErrors-st.RxErrors)
		}
	}
	if dropped := a.Stats().ReceiveDropped; dropped != 0 {
		t.Errorf("the runtime dropped %d frames the hardware let through", dropped)
	}

	// Two bindings: the hardware takes the union, the runtime sorts.
	r2 := e.bind("sim0")
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeDirected)
	ndistest.MustSetPacketFilter(t, r2.B, ndis.PacketTypeMulticast)
	ndistest.MustSetMulticastList(t, r2.B, []ndis.MacAddress{mcastIn2})
	// r's list (mcastIn) still counts in the union, though r no longer takes multicast.
	want := sim.Filter{PacketFilter: ndis.PacketTypeDirected | ndis.PacketTypeMulticast, Multicast: []ndis.MacAddress{mcastIn, mcastIn2}}
	if f := d.Filter(); !f.Equal(want) {
		t.Fatalf("union filter %+v, want %+v", f, want)
	}
	b1, b2 := r.Received(), r2.Received()
	d.Deliver(frame(me, otherMAC, 10, 64), frame(mcastIn2, otherMAC, 11, 64), frame(mcastOut, otherMAC, 12, 64))
	waitReceived(t, r, b1+1)
	waitReceived(t, r2, b2+1)
	if g := r2.ReceivedFrames()[b2:]; len(g) != 1 || ndis.MacAddress(g[0][:6]) != mcastIn2 {
		t.Fatalf("second binding got %d frames", len(g))
	}
}

// TestOIDs: the driver's own OIDs, and what it refuses.
func TestOIDs(t *testing.T) {
	e := newEnv(t, false)
	_, d, r := e.up(map[string]string{"mtu": "1000"})
	checkTraffic(t, r, d, 1, 3)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if v, s := ndistest.Query(ctx, r.B, ndis.OIDGenXmitOK, 8); s != ndis.StatusSuccess || len(v) != 8 || binary.LittleEndian.Uint64(v) != 3 {
		t.Errorf("XMIT_OK into 8 bytes: %s, %x", s, v)
	}
	req := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenXmitOK, Buffer: make([]byte, 4)}
	if s := r.B.OidRequest(ctx, req); s != ndis.StatusSuccess || req.BytesWritten != 4 || req.BytesNeeded != 8 || binary.LittleEndian.Uint32(req.Buffer) != 3 {
		t.Errorf("XMIT_OK into 4 bytes: %s, wrote %d, needs %d, %x", s, req.BytesWritten, req.BytesNeeded, req.Buffer)
	}
	if _, s := ndistest.Query(ctx, r.B, ndis.OIDGenRcvOK, 2); s != ndis.StatusBufferTooShort {
		t.Errorf("RCV_OK into 2 bytes: %s", s)
	}
	if _, s := ndistest.Query(ctx, r.B, ndis.OID(0x00020103), 8); s != ndis.StatusInvalidOid {
		t.Errorf("unknown query: %s", s)
	}
	if s := ndistest.SetUlong(ctx, r.B, ndis.OID(0xFF000001), 1); s != ndis.StatusInvalidOid {
		t.Errorf("unknown set: %s", s)
	}
	if s := ndistest.SetUlong(ctx, r.B, ndis.OIDGenCurrentLookahead, 1001); s != ndis.StatusInvalidData {
		t.Errorf("lookahead above the MTU: %s", s)
	}
	ndistest.MustSet(t, r.B, ndis.OIDGenCurrentLookahead, ndis.Ulong(256))
	if f := d.Filter(); f.Lookahead != 256 {
		t.Errorf("lookahead register %d", f.Lookahead)
	}
	if s := ndistest.SetPacketFilter(ctx, r.B, ndis.PacketTypeAllLocal); s != ndis.StatusNotSupported {
		t.Errorf("unsupported filter bit: %s", s)
	}
	list := make([]ndis.MacAddress, sim.MaxMulticastListSize+1)
	for i := range list {
		list[i] = ndis.MacAddress{0x01, 0, 0x5e, 0, 1, byte(i)}
	}
	if s := ndistest.SetMulticastList(ctx, r.B, list); s != ndis.StatusMulticastFull {
		t.Errorf("33 multicast addresses: %s", s)
	}
	if v, s := ndistest.Query(ctx, r.B, ndis.OID8023CurrentAddress, 6); s != ndis.StatusSuccess || len(v) != 6 || ndis.MacAddress(v) != d.MAC() {
		t.Errorf("current address: %s %x", s, v)
	}
}

// TestPauseDrains: a pause waits for the hardware to transmit what it
// holds, then completes; receives are discarded while paused; a restart
// resumes them.
func TestPauseDrains(t *testing.T) {
	e := newEnv(t, false)
	_, d, r := e.up(map[string]string{"tx_ring": "4", "latency": "200us"})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	send(r, frames(d.MAC(), d.MAC(), 0, 40, 64)...)
	if err := e.rt.PauseAdapter(ctx, "sim0"); err != nil {
		t.Fatal(err)
	}
	if m := r.CompletedByStatus(); m[ndis.StatusSuccess] != 40 {
		t.Fatalf("after the pause: completions %v, want 40 successes", m)
	}
	if st := d.Stats(); st.TxFrames != 40 || st.TxAborted != 0 || st.RxHeld != 0 {
		t.Fatalf("after the pause: %+v", st)
	}
	before := d.Stats().RxDiscarded
	d.Deliver(frame(d.MAC(), otherMAC, 1, 64))
	ndistest.Eventually(t, func() bool { return d.Stats().RxDiscarded == before+1 }, "a receive discarded while paused")
	if err := e.rt.RestartAdapter(ctx, "sim0"); err != nil {
		t.Fatal(err)
	}
	checkTraffic(t, r, d, 100, 5)
}

// TestPauseAbortsStuckSends: a pause whose hardware does not drain takes
// the ring back after send_timeout and aborts the sends, so it ends; held
// OIDs are aborted too.
func TestPauseAbortsStuckSends(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	_, d, r := e.up(nil)
	d.Inject(sim.FaultHang)
	send(r, frames(d.MAC(), d.MAC(), 0, 3, 64)...)
	stuck := stuckQuery(t, r, d, ndis.OIDGenXmitOK)

	paused := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		paused <- e.rt.PauseAdapter(ctx, "sim0")
	}()
	if s := <-stuck; s != ndis.StatusRequestAborted {
		t.Fatalf("held OID: %s", s)
	}
	e.clk.WaitTimers(t, 2) // the check-for-hang tick and the pause's drain timer
	e.clk.Advance(d.SendTimeout() / 2)
	select {
	case err := <-paused:
		t.Fatalf("pause done (%v) before send_timeout", err)
	default:
	}
	e.clk.Advance(d.SendTimeout() / 2)
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
	if m := r.CompletedByStatus(); m[ndis.StatusRequestAborted] != 3 {
		t.Fatalf("completions %v, want 3 aborted", m)
	}
}

// TestFlowControl: a receiver out of buffers (its protocol keeps every
// receive) holds the transmitter back until buffers come back, losing
// nothing; with flow_control=false it loses the frames instead.
func TestFlowControl(t *testing.T) {
	for _, fc := range []bool{true, false} {
		t.Run(fmt.Sprintf("flow_control=%v", fc), func(t *testing.T) {
			e := newEnv(t, false)
			_, d, r := e.up(map[string]string{"rx_ring": "4", "tx_ring": "64", "flow_control": fmt.Sprint(fc)})
			r.KeepReceives(true)
			t.Cleanup(func() { // before the runtime's Close: a pause waits for them
				r.KeepReceives(false)
				r.ReturnKept()
			})
			fs := frames(d.MAC(), d.MAC(), 0, 20, 64)
			send(r, fs...)
			want := 20
			if fc {
				// The pool holds two rings' worth: 8 receives, then no
				// buffer, and the other 12 wait in the transmit ring.
				waitReceived(t, r, 8)
				ndistest.Eventually(t, func() bool { st := d.Stats(); return st.TxFrames == 8 && st.TxRing == 12 }, "the transmitter held back")
				if st := d.Stats(); st.RxNoBuffer != 0 || r.Completed() != 8 {
					t.Fatalf("held back: %d lost, %d completed", st.RxNoBuffer, r.Completed())
				}
			} else {
				// One burst of 20 frames meets 4 posted buffers.
				want = 4
				waitCompleted(t, r, 20)
				waitReceived(t, r, want)
				if st := d.Stats(); st.RxNoBuffer != 16 || st.TxFrames != 20 {
					t.Fatalf("without flow control: %d lost, %d sent", st.RxNoBuffer, st.TxFrames)
				}
			}
			r.KeepReceives(false)
			r.ReturnKept()
			waitCompleted(t, r, 20)
			waitReceived(t, r, want)
			got := r.ReceivedFrames()
			if len(got) != want {
				t.Fatalf("received %d frames, want %d", len(got), want)
			}
			for i := range got {
				if !bytes.Equal(got[i], fs[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
			checkTraffic(t, r, d, 100, 4) // a burst the ring holds, flow control or not
		})
	}
}

// TestReport: the miniport reports its device's Stats (ndis.Reporter)
// under stable names: counters and gauges, and the faults fired by kind.
func TestReport(t *testing.T) {
	e := newEnv(t, false)
	a, d, r := e.up(map[string]string{"rx_ring": "8"})
	me := d.MAC()
	send(r, frame(me, me, 1, 60), frame(me, me, 2, 60), make([]byte, 13))
	waitCompleted(t, r, 3)
	waitReceived(t, r, 2)
	d.Inject(sim.FaultRxStorm) // 256 frames into a ring of 8: an overrun
	ndistest.Eventually(t, func() bool {
		st := d.Stats()
		return st.RxIndicated == st.RxFrames && st.RxHeld == 0
	}, "the storm indicated and returned")

	st := d.Stats()
	if st.TxFrames != 2 || st.TxErrors != 1 || st.RxIndicated < 3 || st.RxNoBuffer == 0 {
		t.Fatalf("stats %+v: want 2 frames sent, 1 failed, a storm received and overrun", st)
	}
	failed := 0.0
	if st.Failed {
		failed = 1
	}
	want := map[string]float64{
		"xmit_ok": float64(st.TxFrames), "xmit_error": float64(st.TxErrors),
		"rcv_ok": float64(st.RxIndicated), "rcv_no_buffer": float64(st.RxNoBuffer),
		"tx_posted": float64(st.TxPosted), "tx_link_down": float64(st.TxLinkDown),
		"tx_aborted": float64(st.TxAborted), "tx_completed": float64(st.TxCompleted),
		"tx_queued": float64(st.TxQueued), "tx_ring": float64(st.TxRing),
		"rx_frames": float64(st.RxFrames), "rx_filtered": float64(st.RxFiltered),
		"rx_errors": float64(st.RxErrors), "rx_dropped": float64(st.RxDropped),
		"rx_discarded": float64(st.RxDiscarded), "rx_held": float64(st.RxHeld),
		"resets": float64(st.Resets), "resets_failed": float64(st.ResetsFailed),
		"resets_pended": float64(st.ResetsPended), "addressing_lost": float64(st.AddressingLost),
		"hang_checks": float64(st.HangChecks), "hangs_detected": float64(st.HangsDetected),
		"oids_stuck": float64(st.OidsStuck), "failed": failed,
	}
	for _, k := range sim.FaultKinds() {
		want["faults_fired{"+k.String()+"}"] = float64(st.Fired[k])
	}
	gauges := map[string]bool{"tx_queued": true, "tx_ring": true, "rx_held": true, "failed": true}
	got := make(map[string]float64)
	for _, x := range a.Details() {
		key := x.Name
		if x.Name == "faults_fired" {
			key += "{" + x.Labels["fault"] + "}"
		} else if x.Labels != nil {
			t.Errorf("%s has labels %v", x.Name, x.Labels)
		}
		if wantKind := map[bool]ndis.DetailKind{false: ndis.DetailCounter, true: ndis.DetailGauge}[gauges[x.Name]]; x.Kind != wantKind || x.Help == "" {
			t.Errorf("%s: kind %s, help %q; want a %s with help", key, x.Kind, x.Help, wantKind)
		}
		if _, dup := got[key]; dup {
			t.Errorf("%s reported twice", key)
		}
		got[key] = x.Value
	}
	if !maps.Equal(got, want) {
		t.Errorf("Details():\n got %v\nwant %v", got, want)
	}
	if got["faults_fired{rx_storm}"] != 1 {
		t.Errorf("faults_fired{rx_storm} = %v, want 1", got["faults_fired{rx_storm}"])
	}
}

// TestDeviceOf: DeviceOf finds the device through the adapter's handle,
// through a decorator that unwraps, and not through one that does not.
func TestDeviceOf(t *testing.T) {
	wrap := func(name string, unwraps bool) ndis.MiniportDriver {
		d := sim.Driver()
		d.Name = name
		inner := d.Initialize
		d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			mp, err := inner(a, p)
			if err != nil {
				return nil, err
			}
			if unwraps {
				return unwrapping{mp}, nil
			}
			return opaque{mp}, nil
		}
		return d
	}
	e := newEnv(t, false)
	for _, d := range []ndis.MiniportDriver{wrap("sim-unwrap", true), wrap("sim-opaque", false)} {
		if err := e.rt.RegisterMiniportDriver(d); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	plain, dev := e.add("plain", nil)
	if dev.Name() != "plain" {
		t.Errorf("DeviceOf(plain) is %q's device", dev.Name())
	}
	for _, c := range []struct {
		driver string
		ok     bool
	}{{"sim-unwrap", true}, {"sim-opaque", false}} {
		a, err := e.rt.AddAdapter(ctx, c.driver, c.driver, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := sim.DeviceOf(a); ok != c.ok || ok && d.Name() != c.driver {
			t.Errorf("DeviceOf(%s) = %v, %v; want found %v", c.driver, d, ok, c.ok)
		}
	}
	if err := e.rt.RemoveAdapter(ctx, plain.Name()); err != nil {
		t.Fatal(err)
	}
	if _, ok := sim.DeviceOf(plain); ok {
		t.Error("DeviceOf a removed adapter")
	}
}

type unwrapping struct{ ndis.Miniport }

func (u unwrapping) Unwrap() ndis.Miniport { return u.Miniport }

type opaque struct{ ndis.Miniport }
