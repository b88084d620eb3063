// Package loopback is an in-memory loopback miniport: every Ethernet frame
// sent on one of its adapters is received back on the same adapter, as if
// the NIC's transmit port were wired to its own receive port. It needs no
// privileges and no device, so it is the adapter to test protocols against
// and to measure the runtime's datapath with.
//
// # Plugging it in
//
//	rt := ndis.New()
//	rt.RegisterMiniportDriver(loopback.Driver())
//	a, err := rt.AddAdapter(ctx, "loop0", "loopback", map[string]string{"mtu": "9000"})
//
// An adapter is configured only through the params map of AddAdapter (the
// same keys as the CLI's config file). Every key is optional:
//
//	mtu         largest payload without the Ethernet header, 68…65535 (default 1500)
//	mac         station address, unicast, as net.ParseMAC reads it (default 02:00:00:00:00:01)
//	link_speed  bits per second, both directions (default 10000000000)
//	batch       most NBLs in one receive indication, 1…4096 (default 64)
//
// An unknown key or a bad value fails the driver's ValidateParams (which
// AddAdapter calls first) and MiniportInitializeEx with an
// *ndis.ParamError, which wraps ndis.StatusInvalidParameter.
//
// # How it works
//
// Like a real NIC, the adapter has an "interrupt" goroutine (its DPC),
// started by Initialize and stopped by Halt. SendNetBufferLists only puts
// the chain on a pending queue, under one lock, and wakes that goroutine
// when it sleeps; it never blocks and never calls back. The interrupt
// goroutine takes everything pending at once and, for the whole chain:
// copies each frame that the hardware receive filter accepts into a receive
// NBL of its own pool (the sender gets its buffers back, so nothing is
// aliased), completes every send in one SendNetBufferListsComplete, then
// indicates the received NBLs in chains of at most batch, flagged
// ndis.ReceiveFlagPerfectFiltered: the hardware filter below applies the
// runtime's own rules. One sent NBL with several frames (NET_BUFFERs) is
// received as one NBL per frame, as a NIC receives frames. Frames shorter
// than an Ethernet header or longer than mtu+14 bytes are completed with
// ndis.StatusInvalidLength and not received.
//
// The receive pool holds at most 4096 NBLs. When protocols hold all of them,
// sends still complete successfully and the frames are dropped, counted by
// ndis.OIDGenRcvNoBuffer, as a NIC out of receive descriptors drops them.
//
// # The hardware filter
//
// The runtime hands the miniport the union of every binding's packet filter
// and multicast list and filters per binding itself. The loopback applies
// that union as the NIC's filter, with the runtime's own rule
// (ndis.PacketFilter.Accepts): promiscuous takes every frame; a unicast frame needs DIRECTED and the adapter's
// address; broadcast needs BROADCAST; multicast needs ALL_MULTICAST, or
// MULTICAST and the address in the list. With no filter set, nothing is
// received.
//
// # OIDs
//
// Set: OIDGenCurrentPacketFilter, OID8023MulticastList (at most 32
// addresses), OIDGenCurrentLookahead. Query: OIDGenXmitOK, OIDGenRcvOK,
// OIDGenXmitError and OIDGenRcvNoBuffer, counted in frames, as a ULONG64 when
// the buffer holds 8 bytes and a ULONG otherwise. The general OIDs (address,
// link state, MTU ...) are answered by the runtime from the adapter's
// attributes. Anything else is ndis.StatusInvalidOid.
//
// The miniport is an ndis.Reporter: Adapter.Details gives the same four
// counters as xmit_ok, xmit_error, rcv_ok and rcv_no_buffer.
//
// # Pause, reset, halt
//
// Pause answers ndis.StatusPending; the interrupt goroutine transmits (and
// loops back) what is still pending, then calls PauseComplete once nothing
// is pending and every indicated NBL has been returned. Reset completes the
// sends not yet taken by the interrupt goroutine with
// ndis.StatusRequestAborted, waits for the chain it is transmitting, and
// returns (false, ndis.StatusSuccess): the filter survives a reset, so no
// addressing restore is needed. Halt stops the interrupt goroutine and waits
// for it.
package loopback

import (
	"sync/atomic"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/miniport/internal/kit"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits of the adapter parameters (the MTU's floor is
// param.MinMTU, as for every gondis adapter).
const (
	DefaultMTU       = 1500
	DefaultLinkSpeed = 10_000_000_000 // bits per second
	DefaultBatch     = 64
	MaxMTU           = 65535
	// PoolLimit is the most receive NBLs an adapter has at once.
	PoolLimit = 4096
	// MaxMulticastListSize is the size of the hardware multicast list.
	MaxMulticastListSize = 32
)

// DefaultMAC is the station address of an adapter given no mac parameter:
// a locally administered unicast address.
const DefaultMAC = "02:00:00:00:00:01"

// Driver returns the loopback miniport driver, named "loopback", written
// against NDIS 6.30 (so it may be reset). Its ValidateParams checks an
// adapter's parameters as Initialize reads them.
func Driver() ndis.MiniportDriver {
	return ndis.MiniportDriver{
		Name:           "loopback",
		Version:        ndis.Version630,
		Initialize:     initialize,
		ValidateParams: params.Validate,
	}
}

// config is an adapter's parsed parameters.
type config struct {
	mtu       int
	mac       ndis.MacAddress
	linkSpeed uint64
	batch     int
}

// params are the adapter parameters; the package doc lists them with these
// Doc strings.
var params = param.Table[config]{
	Driver: "loopback",
	Specs: []param.Spec[config]{
		param.MTUSpec(MaxMTU, DefaultMTU, func(c *config) *int { return &c.mtu }),
		param.MACSpec(DefaultMAC, func(c *config) *ndis.MacAddress { return &c.mac }),
		param.LinkSpeedSpec(DefaultLinkSpeed, func(c *config) *uint64 { return &c.linkSpeed }),
		param.IntSpec("batch", "most NBLs in one receive indication, 1…4096 (default 64)",
			1, PoolLimit, func(c *config) *int { return &c.batch }),
	},
}

// parseConfig reads the params map over the defaults.
func parseConfig(p map[string]string) (config, error) {
	mac, _ := ndis.ParseStationAddress(DefaultMAC) // valid: TestParams uses it
	c := config{mtu: DefaultMTU, mac: mac, linkSpeed: DefaultLinkSpeed, batch: DefaultBatch}
	return c, params.Parse(&c, p)
}

// initialize is MiniportInitializeEx.
func initialize(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
	c, err := parseConfig(p.Params)
	if err != nil {
		return nil, err
	}
	err = kit.SetAttributes(a, 0, kit.Ethernet{
		MTU:           c.mtu,
		MAC:           c.mac,
		LinkSpeed:     c.linkSpeed,
		Connected:     true,
		Filters:       kit.HardwareFilters,
		MulticastList: MaxMulticastListSize,
	})
	if err != nil {
		return nil, err
	}
	m := &miniport{
		a:        a,
		cfg:      c,
		maxFrame: c.mtu + ndis.EthernetHeaderSize,
		pool:     ndis.NewPool(c.mtu+ndis.EthernetHeaderSize, PoolLimit),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	m.filter.Store(&ndis.PacketFilter{})
	m.transmitHooked = func(l *ndis.NetBufferList) {
		if h := testHookTransmit.Load(); h != nil {
			(*h)()
		}
		m.transmit(l)
	}
	go m.interrupt()
	return m, nil
}

// The interfaces the miniport implements.
var (
	_ ndis.Miniport = (*miniport)(nil)
	_ ndis.Resetter = (*miniport)(nil)
	_ ndis.Reporter = (*miniport)(nil)
)

// miniport is one loopback adapter.
type miniport struct {
	a        *ndis.Adapter
	cfg      config
	maxFrame int
	pool     *ndis.Pool // receive NBLs

	// The hardware receive filter: replaced whole by OidRequest on the work
	// goroutine, loaded once per chain by the interrupt goroutine.
	filter    atomic.Pointer[ndis.PacketFilter]
	lookahead atomic.Uint32

	// Counters, in frames.
	xmitOK, xmitError, rcvOK, rcvNoBuffer atomic.Uint64

	pausing atomic.Bool // Pause answered StatusPending; PauseComplete is due

	// sends: handed over by SendNetBufferLists, transmitted by the
	// interrupt goroutine, flushed by Reset.
	sends kit.SendQueue
	// transmitHooked is transmit behind the test hook, made once so that
	// serving the queue allocates nothing.
	transmitHooked func(*ndis.NetBufferList)

	// transmit's scratch lists, interrupt goroutine only.
	accepted [][]byte              // frames to receive
	chunks   []*ndis.NetBufferList // receive indications

	wake chan struct{} // capacity 1: sends are pending, or a pause may be done
	stop chan struct{} // closed by Halt
	done chan struct{} // closed when the interrupt goroutine has exited
}

// signal wakes the interrupt goroutine. It never blocks.
func (m *miniport) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// SendNetBufferLists is MiniportSendNetBufferLists: it queues the chain
// under one lock and wakes the interrupt goroutine when it is idle. It never
// blocks and never calls back; every NBL is completed later, on the
// interrupt goroutine, or by Reset.
func (m *miniport) SendNetBufferLists(l *ndis.NetBufferList) {
	if m.sends.Push(l) {
		m.signal()
	}
}

// ReturnNetBufferLists is MiniportReturnNetBufferLists: received NBLs go back
// to the pool. It never blocks.
func (m *miniport) ReturnNetBufferLists(l *ndis.NetBufferList) {
	m.pool.Put(l)
	if m.pausing.Load() {
		m.signal() // the pause may wait for these
	}
}

// interrupt is the adapter's interrupt goroutine: the NIC's DPC.
func (m *miniport) interrupt() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		m.service()
	}
}

// Test hooks: testHookTransmit runs on the interrupt goroutine before each
// chain is transmitted, testHookReset in Reset once it has taken the
// pending sends (tests use them to hold a batch in the "hardware").
var testHookTransmit, testHookReset atomic.Pointer[func()]

// service transmits every pending chain, then completes a pending pause if
// nothing is left.
func (m *miniport) service() {
	m.sends.Serve(m.transmitHooked)
	m.maybeCompletePause()
}

// maybeCompletePause calls PauseComplete once a pause is pending, nothing is
// left to transmit and every indicated NBL is back in the pool (outside
// transmit, the pool's outstanding NBLs are exactly those indicated and not
// returned). Interrupt goroutine only.
func (m *miniport) maybeCompletePause() {
	if m.pausing.Load() && m.sends.Drained() && m.pool.Outstanding() == 0 && m.pausing.CompareAndSwap(true, false) {
		m.a.PauseComplete()
	}
}

// transmit puts a chain of sends on the "wire": the frames the hardware
// filter accepts are copied into receive NBLs, every send is completed in
// one call, then the receive NBLs are indicated in chains of at most batch.
// Interrupt goroutine only.
func (m *miniport) transmit(l *ndis.NetBufferList) {
	pf := m.filter.Load()

	// Check the lengths and run the filter: the frames to receive. An NBL
	// with one bad frame fails whole.
	accepted := m.accepted[:0]
	var sent, failed uint64
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusSuccess
		mark := len(accepted)
		for _, f := range x.Frames {
			if len(f) < ndis.EthernetHeaderSize || len(f) > m.maxFrame {
				x.Status = ndis.StatusInvalidLength
				break
			}
			if pf.AcceptsFrame(f, m.cfg.mac) {
				accepted = append(accepted, f)
			}
		}
		if x.Status != ndis.StatusSuccess {
			failed += uint64(len(x.Frames))
			clear(accepted[mark:])
			accepted = accepted[:mark]
			continue
		}
		sent += uint64(len(x.Frames))
	}

	// Copy them into receive NBLs while the sends are still ours, cutting
	// the receive chain into indications of at most batch NBLs.
	chunks := m.chunks[:0]
	received := 0
	if len(accepted) > 0 {
		var r, prev *ndis.NetBufferList
		r, received = m.pool.Get(len(accepted))
		if received > 0 {
			chunks = append(chunks, r)
		}
		n := 0
		for _, f := range accepted[:received] {
			if n == m.cfg.batch {
				prev.Next = nil
				chunks = append(chunks, r)
				n = 0
			}
			r.Frames[0] = r.Frames[0][:copy(r.Frames[0], f)]
			prev, r = r, r.Next
			n++
		}
		clear(accepted) // hold no reference to the senders' buffers
	}
	m.accepted = accepted[:0]
	m.xmitOK.Add(sent)
	if failed != 0 {
		m.xmitError.Add(failed)
	}
	if dropped := len(accepted) - received; dropped > 0 {
		m.rcvNoBuffer.Add(uint64(dropped))
	}

	m.a.SendNetBufferListsComplete(l)

	if received == 0 {
		return
	}
	m.rcvOK.Add(uint64(received))
	for _, c := range chunks {
		m.a.IndicateReceiveNetBufferLists(c, ndis.ReceiveFlagPerfectFiltered)
	}
	clear(chunks)
	m.chunks = chunks[:0]
}

// Pause is MiniportPause. It answers StatusPending; the interrupt goroutine
// calls PauseComplete once it has transmitted every pending send and every
// indicated NBL has come back.
func (m *miniport) Pause() ndis.Status {
	m.pausing.Store(true)
	m.signal()
	return ndis.StatusPending
}

// Restart is MiniportRestart.
func (m *miniport) Restart() ndis.Status { return ndis.StatusSuccess }

// Reset is MiniportResetEx. It completes the sends the interrupt goroutine
// has not taken yet with StatusRequestAborted, waits for the chain it is
// transmitting, and succeeds. The hardware filter is kept, so it is not an
// addressing reset. It runs on the work goroutine, with the datapath gate
// closed: no send arrives meanwhile.
func (m *miniport) Reset() (addressingReset bool, s ndis.Status) {
	l := m.sends.Take()
	if h := testHookReset.Load(); h != nil {
		(*h)()
	}
	m.sends.WaitIdle()
	if l != nil {
		m.xmitError.Add(kit.Abort(l))
		m.a.SendNetBufferListsComplete(l)
	}
	if m.pausing.Load() {
		m.signal() // a pause pending beside the reset may be done now
	}
	return false, ndis.StatusSuccess
}

// Halt is MiniportHaltEx: it stops the interrupt goroutine and waits for it.
// The runtime halts only a paused adapter, so nothing is pending and every
// indicated NBL is back.
func (m *miniport) Halt(ndis.HaltAction) {
	close(m.stop)
	<-m.done
}

// OidRequest is MiniportOidRequest. Every request is answered inline.
func (m *miniport) OidRequest(r *ndis.OidRequest) ndis.Status {
	f := *m.filter.Load() // the work goroutine is the only writer
	if s, ok := kit.SetFilter(r, &f, MaxMulticastListSize); ok {
		if s == ndis.StatusSuccess {
			m.filter.Store(&f)
		}
		return s
	}
	switch r.Type {
	case ndis.RequestSet:
		switch r.OID {
		case ndis.OIDGenCurrentLookahead:
			v, s := r.Ulong()
			if s == ndis.StatusSuccess {
				m.lookahead.Store(v) // whole frames are indicated anyway
			}
			return s
		}
	case ndis.RequestQuery:
		switch r.OID {
		case ndis.OIDGenXmitOK:
			return r.PutCounter(m.xmitOK.Load())
		case ndis.OIDGenRcvOK:
			return r.PutCounter(m.rcvOK.Load())
		case ndis.OIDGenXmitError:
			return r.PutCounter(m.xmitError.Load())
		case ndis.OIDGenRcvNoBuffer:
			return r.PutCounter(m.rcvNoBuffer.Load())
		}
	}
	return ndis.StatusInvalidOid
}

// Report implements ndis.Reporter: the adapter's counters, in frames, as
// the statistics OIDs answer them.
func (m *miniport) Report() []ndis.Detail {
	return []ndis.Detail{
		{Name: "xmit_ok", Help: "frames sent without error", Kind: ndis.DetailCounter, Value: float64(m.xmitOK.Load())},
		{Name: "xmit_error", Help: "frames not sent: a bad length, or aborted by a reset", Kind: ndis.DetailCounter, Value: float64(m.xmitError.Load())},
		{Name: "rcv_ok", Help: "frames indicated to the runtime", Kind: ndis.DetailCounter, Value: float64(m.rcvOK.Load())},
		{Name: "rcv_no_buffer", Help: "frames dropped: no receive NBL free", Kind: ndis.DetailCounter, Value: float64(m.rcvNoBuffer.Load())},
	}
}
