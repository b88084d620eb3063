package sim

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/miniport/internal/kit"
	"github.com/gondis/gondis/ndis"
)

// Driver returns the sim miniport driver, named "sim", written against
// NDIS 6.30, whose devices run on the wall clock.
func Driver() ndis.MiniportDriver { return DriverWith(Options{}) }

// Options configure what adapter parameters cannot.
type Options struct {
	// Clock is the clock of every device of the driver: the hardware's
	// latency, the send time-out, the faults' timers. Nil means the wall
	// clock; tests pass the runtime's fake clock (ndistest.NewFakeClock).
	Clock ndis.Clock
}

// DriverWith returns the sim miniport driver with options. It is still
// named "sim": register one or the other. Its ValidateParams checks an
// adapter's parameters as Initialize reads them (all but a wire's third
// end, which only Initialize finds). Each call returns a driver with wires
// of its own (see the package doc).
func DriverWith(o Options) ndis.MiniportDriver {
	clock := o.Clock
	if clock == nil {
		clock = ndis.RealClock()
	}
	ws := new(wires)
	return ndis.MiniportDriver{
		Name:    "sim",
		Version: ndis.Version630,
		Initialize: func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			return initialize(a, p, clock, ws)
		},
		ValidateParams: params.Validate,
	}
}

// The interfaces the miniport implements.
var (
	_ ndis.Miniport    = (*miniport)(nil)
	_ ndis.Resetter    = (*miniport)(nil)
	_ ndis.HangChecker = (*miniport)(nil)
	_ ndis.Reporter    = (*miniport)(nil)
)

// miniport is the driver of one sim adapter: the software that programs the
// Device. The runtime calls its handlers; its interrupt goroutine
// (interrupt.go) is its ISR and DPC.
type miniport struct {
	a    *ndis.Adapter
	d    *Device
	pool *ndis.Pool // receive NBLs, posted in the receive ring

	rxOutstanding atomic.Int64  // receive NBLs indicated and not yet returned
	rxShort       atomic.Bool   // the receive ring lacks buffers: refill on return
	indicate      atomic.Bool   // Running: received frames are indicated
	pausing       atomic.Bool   // a pause waits: returns and completions may finish it
	bugs          atomic.Uint32 // armed Bugs, one bit each

	stop   chan struct{} // closed by Halt: the interrupt goroutine exits
	done   chan struct{} // closed when it has
	linkUp bool          // the link state last indicated; interrupt goroutine only

	mu     sync.Mutex
	idle   sync.Cond // on mu; broadcast when busy goes false
	busy   bool      // the interrupt handler is in a pass
	fenced bool      // a reset keeps the interrupt handler off the rings
	// The software queue: NBLs waiting for room in the transmit ring
	// (back-pressure), swLen in all. swNext is the rest of a chain taken
	// from sw, posted before sw; swFrame frames of its head are posted
	// already.
	sw             ndis.List
	swNext         *ndis.NetBufferList
	swFrame, swLen int
	inHand         int                 // NBLs taken from the device by Reset, Pause or CheckForHang, not yet completed
	leaked         *ndis.NetBufferList // BugResetPendingRequests: sends a reset forgot
	oids           []*ndis.OidRequest  // held by stuck_oid
	bugOid         *ndis.OidRequest    // BugOidDoubleComplete: to complete twice
	pausePending   bool
	pauseAbort     bool // the pause waited send_timeout: abort what the hardware holds
	pauseTimer     ndis.Timer
	restoreWindow  bool // an addressing reset ended; the runtime's restore sets may follow
	addrLost       bool // the filter registers were cleared by a reset
	slow           *slowReset
	halted         bool
}

// initialize is MiniportInitializeEx: it parses the parameters, builds the
// device, posts the receive buffers, plugs into the wire, sets the
// attributes, and powers the hardware and the interrupt goroutine up.
func initialize(a *ndis.Adapter, p ndis.InitParameters, clock ndis.Clock, ws *wires) (ndis.Miniport, error) {
	c, err := parseConfig(p.Name, p.Params)
	if err != nil {
		return nil, err
	}
	d := newDevice(p.Name, c, clock, ws)
	m := &miniport{
		a:    a,
		d:    d,
		pool: ndis.NewPool(c.mtu+ndis.EthernetHeaderSize, 2*c.rxRing),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	m.idle.L = &m.mu
	d.m = m
	d.mu.Lock()
	m.rxShort.Store(m.refillRxLocked())
	d.mu.Unlock()
	if c.wire != "" {
		if err := ws.join(c.wire, d); err != nil {
			return nil, &ndis.ParamError{Driver: params.Driver, Key: "wire", Value: c.wire, Reason: err.Error()}
		}
	}
	m.linkUp = d.LinkUp()
	if err := m.setAttributes(c); err != nil {
		ws.leave(d)
		return nil, err
	}
	d.mu.Lock()
	d.startEngineLocked()
	d.mu.Unlock()
	go m.interrupt()
	d.startFaults(c.faults)
	return m, nil
}

// setAttributes sets the registration attributes and the general ones of
// an Ethernet adapter whose link may start down (the first end of a wire):
// then the link speeds and the duplex state are unknown.
func (m *miniport) setAttributes(c config) error {
	if err := m.a.SetMiniportAttributes(&ndis.RegistrationAttributes{}); err != nil {
		return err
	}
	ga := kit.Ethernet{
		MTU:           c.mtu,
		MAC:           c.mac,
		LinkSpeed:     c.linkSpeed,
		Connected:     m.linkUp,
		Filters:       kit.HardwareFilters,
		MulticastList: MaxMulticastListSize,
	}.GeneralAttributes()
	ls := m.d.linkState(m.linkUp)
	ga.XmitLinkSpeed, ga.RcvLinkSpeed, ga.MediaDuplexState = ls.XmitLinkSpeed, ls.RcvLinkSpeed, ls.MediaDuplexState
	return m.a.SetMiniportAttributes(ga)
}

// linkState is the NDIS_LINK_STATE of the device's link.
func (d *Device) linkState(up bool) ndis.LinkState {
	if !up {
		return ndis.LinkState{
			MediaConnectState: ndis.MediaConnectStateDisconnected,
			XmitLinkSpeed:     ndis.LinkSpeedUnknown,
			RcvLinkSpeed:      ndis.LinkSpeedUnknown,
		}
	}
	return ndis.LinkState{
		MediaConnectState: ndis.MediaConnectStateConnected,
		MediaDuplexState:  ndis.MediaDuplexStateFull,
		XmitLinkSpeed:     d.linkSpeed,
		RcvLinkSpeed:      d.linkSpeed,
		PauseFunctions:    ndis.PauseFunctionsUnsupported,
	}
}

// takeBug disarms bug b and reports whether it was armed.
func (m *miniport) takeBug(b Bug) bool {
	return m.bugs.And(^uint32(1<<b))&(1<<b) != 0
}

// --- the datapath ----------------------------------------------------------

// SendNetBufferLists is MiniportSendNetBufferLists. Each NBL's frames go
// into transmit descriptors, one frame each, as long as the ring has room;
// the rest waits in the software queue, in order, until transmit
// completions make room (back-pressure, never failure). An NBL with no
// frame completes at once with success, one with a frame shorter than an
// Ethernet header or longer than the MTU allows with StatusInvalidLength,
// and every NBL sent to a dead device (after a failed reset) with
// StatusHardErrors: those inline, in one completion. It never blocks; the
// rest are completed by the interrupt handler, a reset or a pause.
func (m *miniport) SendNetBufferLists(l *ndis.NetBufferList) {
	d := m.d
	now := d.clock.Now()
	dead := d.Failed()
	var queued, completed ndis.List
	var bad uint64
	for x := l; x != nil; {
		next := x.Next
		x.Next = nil
		status, queue := ndis.StatusSuccess, len(x.Frames) > 0
		if dead {
			status, queue = ndis.StatusHardErrors, false
		} else {
			for _, f := range x.Frames {
				if len(f) < ndis.EthernetHeaderSize || len(f) > d.maxFrame {
					status, queue = ndis.StatusInvalidLength, false
					break
				}
			}
		}
		if queue {
			queued.Push(x)
		} else {
			x.Status = status
			if status != ndis.StatusSuccess {
				bad += uint64(len(x.Frames))
			}
			completed.Push(x)
		}
		x = next
	}
	if !queued.Empty() {
		m.mu.Lock()
		m.swLen += queued.Len()
		m.sw.PushList(&queued)
		posted := m.postLocked(now)
		m.mu.Unlock()
		if posted > 0 {
			d.ring()
		}
	}
	if !completed.Empty() {
		d.stats.txErrors.Add(bad)
		d.stats.txCompleted.Add(uint64(completed.Len()))
		m.a.SendNetBufferListsComplete(completed.Take())
	}
}

// postLocked moves frames from the software queue into free transmit
// descriptors; the last descriptor of each NBL carries the NBL. It returns
// how many it posted; the caller rings the doorbell. Called with m.mu held.
func (m *miniport) postLocked(now time.Time) int {
	if m.swNext == nil {
		m.swNext = m.sw.Take()
		if m.swNext == nil {
			return 0
		}
	}
	d := m.d
	posted := 0
	d.mu.Lock()
	size := uint64(len(d.tx))
	for m.swNext != nil && d.txTail-d.txClean < size {
		x := m.swNext
		desc := &d.tx[d.txTail%size]
		desc.frame, desc.postedAt, desc.nbl = x.Frames[m.swFrame], now, nil
		if m.swFrame++; m.swFrame == len(x.Frames) {
			desc.nbl = x
			m.swNext, x.Next = x.Next, nil
			if m.swNext == nil {
				m.swNext = m.sw.Take()
			}
			m.swFrame = 0
			m.swLen--
		}
		d.txTail++
		posted++
	}
	d.mu.Unlock()
	d.stats.txPosted.Add(uint64(posted))
	return posted
}

// swQueuedLocked reports whether the software queue holds an NBL. Called
// with m.mu held.
func (m *miniport) swQueuedLocked() bool { return m.swNext != nil || !m.sw.Empty() }

// ReturnNetBufferLists is MiniportReturnNetBufferLists: receive NBLs go back
// to the pool, from which the interrupt handler posts them again. It never
// blocks.
func (m *miniport) ReturnNetBufferLists(l *ndis.NetBufferList) {
	n := int64(l.Len())
	m.pool.Put(l)
	left := m.rxOutstanding.Add(-n)
	if left == 0 && m.pausing.Load() || m.rxShort.Load() {
		m.d.raise(irqService) // a pause may be done; the ring may want buffers
	}
}

// refillRxLocked posts receive buffers from the pool into every free slot
// of the receive ring and reports whether the pool ran short. Called with
// the device lock held.
func (m *miniport) refillRxLocked() (short bool) {
	d := m.d
	size := uint64(len(d.rx))
	need := int(size - (d.rxTail - d.rxClean))
	if need == 0 {
		return false
	}
	l, got := m.pool.Get(need)
	for x := l; x != nil; {
		next := x.Next
		x.Next = nil
		d.rx[d.rxTail%size].nbl = x
		d.rxTail++
		x = next
	}
	if got > 0 {
		d.releaseXoffLocked()
	}
	return got < need
}

// --- OIDs --------------------------------------------------------------------

// OidRequest is MiniportOidRequest. Requests are answered inline, except
// one that stuck_oid holds (StatusPending, completed only by a reset or a
// pause) and the one BugOidDoubleComplete takes.
func (m *miniport) OidRequest(r *ndis.OidRequest) ndis.Status {
	if m.takeBug(BugOidDoubleComplete) {
		m.mu.Lock()
		m.bugOid = r
		m.mu.Unlock()
		m.d.raise(irqService)
		return ndis.StatusPending
	}
	// Only while running (Pause aborts a held request, and nothing times
	// one out once a halt has begun), and not right after an addressing
	// reset: the runtime's restore sets come then, and nothing times them
	// out either (see the package doc).
	m.mu.Lock()
	window := m.restoreWindow
	m.mu.Unlock()
	if !window && m.indicate.Load() {
		if _, stuck := m.d.takeEvent(FaultStuckOid); stuck {
			m.mu.Lock()
			m.oids = append(m.oids, r)
			m.mu.Unlock()
			m.d.stats.oidsStuck.Add(1)
			return ndis.StatusPending
		}
	}
	return m.answer(r)
}

// answer answers a request from the device's registers and counters.
func (m *miniport) answer(r *ndis.OidRequest) ndis.Status {
	d := m.d
	d.mu.Lock()
	s, ok := kit.SetFilter(r, &d.filter, MaxMulticastListSize)
	d.mu.Unlock()
	if ok {
		return s
	}
	switch r.Type {
	case ndis.RequestSet:
		switch r.OID {
		case ndis.OIDGenCurrentLookahead:
			v, s := r.Ulong()
			if s != ndis.StatusSuccess {
				return s
			}
			if v > uint32(d.maxFrame-ndis.EthernetHeaderSize) {
				return ndis.StatusInvalidData
			}
			d.mu.Lock()
			d.lookahead = v
			d.mu.Unlock()
			return ndis.StatusSuccess
		}
	case ndis.RequestQuery:
		switch r.OID {
		case ndis.OIDGenXmitOK:
			return r.PutCounter(d.stats.txFrames.Load())
		case ndis.OIDGenRcvOK:
			return r.PutCounter(d.stats.rxIndicated.Load())
		}
	}
	return ndis.StatusInvalidOid
}

// --- pause, restart, halt ----------------------------------------------------

// Pause is MiniportPause. Received frames are no longer indicated; the
// hardware transmits what it holds and the interrupt handler completes it.
// Pause answers StatusPending; PauseComplete follows once no send is held
// and every indicated NBL has been returned. A hardware that does not drain
// within send_timeout (hung, or dead) has its transmit ring taken back and
// the sends in it completed with StatusRequestAborted, so a pause always
// ends. OID requests held by stuck_oid are completed with
// StatusRequestAborted, so that a paused adapter can always be halted.
func (m *miniport) Pause() ndis.Status {
	d := m.d
	m.indicate.Store(false)
	m.mu.Lock()
	leaked, n := m.leaked, m.leaked.Len()
	m.leaked = nil
	m.inHand += n
	oids := m.oids
	m.oids = nil
	m.pausePending, m.pauseAbort = true, false
	m.pausing.Store(true)
	m.pauseTimer = d.clock.AfterFunc(d.sendTimeout, m.pauseExpired)
	m.mu.Unlock()
	m.completeTaken(leaked, n)
	for _, r := range oids {
		m.a.OidRequestComplete(r, ndis.StatusRequestAborted)
	}
	d.raise(irqService)
	return ndis.StatusPending
}

// pauseExpired runs send_timeout after a pause began.
func (m *miniport) pauseExpired() {
	m.mu.Lock()
	if m.pausePending {
		m.pauseAbort = true
	}
	m.mu.Unlock()
	m.d.raise(irqService)
}

// Restart is MiniportRestart: received frames are indicated again.
func (m *miniport) Restart() ndis.Status {
	m.indicate.Store(true)
	return ndis.StatusSuccess
}

// Halt is MiniportHaltEx: the device is switched off (its faults' timers
// stopped, its wire unplugged, its engine stopped) and the interrupt
// goroutine is stopped and waited for. The runtime halts only a paused
// adapter with nothing outstanding, so nothing is left to complete.
func (m *miniport) Halt(ndis.HaltAction) {
	d := m.d
	d.mu.Lock()
	d.closed = true
	d.stopFaultsLocked()
	d.mu.Unlock()
	d.wires.leave(d)
	d.stopEngine()
	close(m.stop)
	<-m.done
	m.mu.Lock()
	m.halted = true
	pt, slow := m.pauseTimer, m.slow
	m.pauseTimer, m.slow = nil, nil
	m.mu.Unlock()
	if pt != nil {
		pt.Stop()
	}
	if slow != nil {
		slow.cancel() // only after a reset time-out: see Fault.Provokes
	}
	if m.takeBug(BugCallAfterHalt) {
		a, ls := m.a, d.linkState(false).Marshal()
		go func() {
			<-a.Done()
			a.IndicateStatus(ndis.StatusLinkState, ls) // the bug: a timer that outlived Halt
		}()
	}
}
