package loopback

import (
	"sync/atomic"

	"github.com/gondis/gondis/miniport/internal/kit"
	"github.com/gondis/gondis/ndis"
)

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
