package sim

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
)

// The device model: the "hardware" a sim adapter's driver programs. The
// driver writes registers (the receive filter) and descriptors (the two
// rings) and rings the transmit doorbell; the hardware's engine goroutine
// processes the transmit ring at the device's line rate, puts frames on the
// wire and raises interrupts; a frame that arrives from the wire is filtered
// and written into the next posted receive buffer at once, as a NIC's MAC
// and DMA engine do. The driver's side is in sim.go, interrupt.go and
// reset.go.

// txDesc is one transmit descriptor: one frame (NET_BUFFER), and on the last
// descriptor of an NBL (end of packet) the NBL itself, which the driver
// completes once the hardware is done with that descriptor.
type txDesc struct {
	frame    []byte
	nbl      *ndis.NetBufferList
	postedAt time.Time
}

// rxDesc is one receive descriptor: a posted receive NBL from the driver's
// pool, whose buffer the hardware fills.
type rxDesc struct {
	nbl *ndis.NetBufferList
}

// Interrupt causes: the bits of the interrupt cause register.
const (
	irqTx      uint32 = 1 << iota // transmit descriptors done
	irqRx                         // receive descriptors filled
	irqLink                       // the link changed
	irqFatal                      // fatal hardware error
	irqService                    // raised by the driver itself: pause, refill, deferred work
)

// txBurst is the most descriptors the engine processes between two
// interrupts (interrupt moderation).
const txBurst = 128

// stormSource is the source address of rx_storm frames.
var stormSource = ndis.MacAddress{0x02, 0x53, 0x49, 0x4d, 0x00, 0x00}

// stormEtherType is the EtherType of rx_storm frames (local experimental).
const stormEtherType = 0x88B5

// Device is the simulated NIC of one sim adapter: its rings, registers,
// counters and faults. Get it with DeviceOf. Its methods are safe for
// concurrent use, from any goroutine; none of them blocks on the runtime.
type Device struct {
	name        string
	mac         ndis.MacAddress
	maxFrame    int // MTU plus the Ethernet header
	linkSpeed   uint64
	latency     time.Duration
	sendTimeout time.Duration
	flowControl bool // a full receive ring holds the transmitter back (802.3x PAUSE)
	clock       ndis.Clock
	wire        string // "": looped back to itself
	wires       *wires // the driver's wires, which wire names
	m           *miniport

	irq      chan struct{} // the interrupt line: capacity 1
	icr      atomic.Uint32 // interrupt cause register
	doorbell chan struct{} // the transmit doorbell: capacity 1
	peer     atomic.Pointer[Device]
	stats    deviceCounters

	txBatch [][]byte    // the engine's scratch lists; one engine at a time
	txFins  []time.Time // when each frame of txBatch is done, with latency

	mu         sync.Mutex
	closed     bool    // halted: the device does nothing any more
	eng        *engine // nil: stopped (in reset, dead, halted)
	fatal      bool    // a fatal error stopped the device until a reset
	fatalSince time.Time
	failed     bool // a reset failed: the device is dead until one succeeds
	txHung     bool // a hang stopped the transmit engine
	hangTimer  ndis.Timer
	hangGen    uint64
	flapDown   bool // a link flap holds the link down
	flapTimer  ndis.Timer
	flapGen    uint64
	stormSeq   uint32
	xoff       *Device // a transmitter this device's full receive ring holds back

	// Registers: the receive filter and the lookahead.
	filter    ndis.PacketFilter
	lookahead uint32

	// The transmit ring: [txClean, txHead) done by the hardware and not yet
	// reaped, [txHead, txTail) posted and not yet processed. Indices grow
	// without bound; a slot is index % len(tx).
	tx                      []txDesc
	txClean, txHead, txTail uint64
	busyUntil               time.Time // when the hardware finished its last frame

	// The receive ring: [rxClean, rxHead) filled and not yet reaped,
	// [rxHead, rxTail) posted buffers the hardware may fill.
	rx                      []rxDesc
	rxClean, rxHead, rxTail uint64

	faults [numFaultKinds]faultState
}

type deviceCounters struct {
	txPosted, txFrames, txLinkDown, txErrors, txAborted, txCompleted                atomic.Uint64
	rxFrames, rxFiltered, rxNoBuffer, rxErrors, rxDropped, rxIndicated, rxDiscarded atomic.Uint64
	resets, resetsFailed, resetsPended, addressingLost                              atomic.Uint64
	hangChecks, hangsDetected, oidsStuck                                            atomic.Uint64
}

// engine is one run of the hardware's transmit engine goroutine.
type engine struct {
	stop chan struct{} // closed to stop it
	done chan struct{} // closed when it has stopped
	tick chan struct{} // its latency timer fired; capacity 1
}

func newDevice(name string, c config, clock ndis.Clock, ws *wires) *Device {
	return &Device{
		name:        name,
		mac:         c.mac,
		maxFrame:    c.mtu + ndis.EthernetHeaderSize,
		linkSpeed:   c.linkSpeed,
		latency:     c.latency,
		sendTimeout: c.sendTimeout,
		flowControl: c.flowControl,
		clock:       clock,
		wire:        c.wire,
		wires:       ws,
		irq:         make(chan struct{}, 1),
		doorbell:    make(chan struct{}, 1),
		tx:          make([]txDesc, c.txRing),
		rx:          make([]rxDesc, c.rxRing),
		busyUntil:   clock.Now(),
	}
}

// raise sets interrupt causes and asserts the interrupt line. It never
// blocks.
func (d *Device) raise(causes uint32) {
	d.icr.Or(causes)
	select {
	case d.irq <- struct{}{}:
	default:
	}
}

// ring rings the transmit doorbell. It never blocks.
func (d *Device) ring() {
	select {
	case d.doorbell <- struct{}{}:
	default:
	}
}

// startEngineLocked powers the transmit engine up, unless it runs or the
// device is halted or dead.
func (d *Device) startEngineLocked() {
	if d.eng != nil || d.closed || d.failed {
		return
	}
	e := &engine{stop: make(chan struct{}), done: make(chan struct{}), tick: make(chan struct{}, 1)}
	d.eng = e
	d.busyUntil = d.clock.Now()
	go d.run(e)
	d.ring() // descriptors may be waiting
}

// stopEngine stops the transmit engine and waits for it: a frame it was
// transmitting is finished first. Receives are dropped from the moment it
// is called.
func (d *Device) stopEngine() {
	d.mu.Lock()
	e := d.eng
	d.eng = nil
	d.releaseXoffLocked() // the transmitter's frames are lost now, not held back
	d.mu.Unlock()
	if e != nil {
		close(e.stop)
		<-e.done
	}
}

// run is the hardware's transmit engine: woken by the doorbell or its
// latency timer, it processes every descriptor that is due. Due times are
// absolute, so an engine that was slow to run (or a clock that jumped)
// catches up rather than drifting.
func (d *Device) run(e *engine) {
	defer close(e.done)
	var lt latencyTimer
	defer lt.stop()
	for {
		select {
		case <-e.stop:
			return
		case <-d.doorbell:
		case <-e.tick:
			lt.timer = nil
		}
		for {
			next, more := d.transmit(e)
			if !more && !next.IsZero() {
				more = d.armLatencyTimer(e, &lt, next)
			}
			if !more {
				break
			}
			select {
			case <-e.stop:
				return
			default:
			}
		}
	}
}

// latencyTimer is the engine's timer for the next descriptor due.
type latencyTimer struct {
	timer ndis.Timer
	due   time.Time
}

func (t *latencyTimer) stop() {
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
}

// armLatencyTimer makes sure a timer fires by next, and reports whether
// next is due already. A Clock's timers are relative, so when the clock
// moves while one is armed (a fake clock advanced by another goroutine),
// the timer may fire late: it is armed again.
func (d *Device) armLatencyTimer(e *engine, t *latencyTimer, next time.Time) (due bool) {
	for {
		now := d.clock.Now()
		if !next.After(now) {
			return true
		}
		if t.timer != nil && !t.due.After(next) {
			return false // one fires in time
		}
		t.stop()
		t.timer, t.due = d.clock.AfterFunc(next.Sub(now), func() {
			select {
			case e.tick <- struct{}{}:
			default:
			}
		}), next
		if d.clock.Now().Sub(now) <= time.Millisecond {
			return false
		}
	}
}

// transmit processes the descriptors that are due: each takes the device's
// latency, one after the other, from when it was posted or the previous one
// finished. The frames go on the wire (to the peer, or back to this device),
// then the descriptors are marked done and a transmit interrupt is raised.
// A receiver whose ring is full holds the rest back (flow control) and rings
// the doorbell again when it has room. It returns when the next descriptor
// is due (zero: none waits for its time), and whether more may be due now.
func (d *Device) transmit(e *engine) (next time.Time, more bool) {
	now := d.clock.Now()
	d.mu.Lock()
	if d.closed || d.eng != e || d.fatal || d.txHung {
		d.mu.Unlock()
		return time.Time{}, false
	}
	n := uint64(len(d.tx))
	start, end := d.txHead, d.txHead
	busy := d.busyUntil
	batch, fins := d.txBatch[:0], d.txFins[:0]
	for end < d.txTail && len(batch) < txBurst {
		desc := &d.tx[end%n]
		if d.latency > 0 {
			fin := later(busy, desc.postedAt).Add(d.latency)
			if fin.After(now) {
				next = fin
				break
			}
			busy = fin
			fins = append(fins, fin)
		}
		batch = append(batch, desc.frame)
		end++
	}
	up := d.linkUpLocked()
	d.mu.Unlock()
	if len(batch) == 0 {
		return next, false
	}

	// The wire. The descriptors are still posted, so the frames stay the
	// sender's until the receiver has copied them.
	var dst *Device
	if up {
		dst = d
		if d.wire != "" {
			dst = d.peer.Load()
		}
	}
	sent := len(batch)
	if dst != nil {
		sent = dst.receive(batch, d)
		d.stats.txFrames.Add(uint64(sent))
	} else {
		d.stats.txLinkDown.Add(uint64(sent))
	}
	more = sent == txBurst
	if sent < len(batch) {
		next, more = time.Time{}, false // held back: the receiver rings when it has room
	}
	switch {
	case sent == 0:
	case d.latency > 0:
		busy = fins[sent-1]
	default:
		busy = now
	}
	clear(batch) // hold no reference to the senders' buffers
	d.txBatch, d.txFins = batch[:0], fins[:0]
	if sent == 0 {
		return next, more
	}

	d.mu.Lock()
	if d.txHead == start { // nothing took the ring meanwhile: resets stop the engine first
		d.txHead, d.busyUntil = start+uint64(sent), busy
	}
	d.mu.Unlock()
	d.raise(irqTx)
	return next, more
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// linkUpLocked reports whether the link is up: a looped-back device always
// has its own partner; a wired one needs the other end; a link flap holds
// it down.
func (d *Device) linkUpLocked() bool {
	return !d.flapDown && (d.wire == "" || d.peer.Load() != nil)
}

// receive is the device's MAC: frames arrive from the wire, are checked
// against the MTU and the hardware filter, and are written into posted
// receive buffers; then a receive interrupt is raised. A device that is
// resetting, dead or whose link is down loses them. When a frame finds no
// posted buffer, a device with flow control holds the transmitting device
// from back (from; nil for frames from outside, which are lost instead) and
// takes no more; it returns how many frames it took, lost ones included. It
// never blocks.
func (d *Device) receive(frames [][]byte, from *Device) int {
	d.mu.Lock()
	if d.closed || d.eng == nil || d.fatal || !d.linkUpLocked() {
		d.mu.Unlock()
		d.stats.rxDropped.Add(uint64(len(frames)))
		return len(frames)
	}
	n := uint64(len(d.rx))
	taken := len(frames)
	var got, filtered, noBuf, bad uint64
	for i, f := range frames {
		switch {
		case len(f) < ndis.EthernetHeaderSize || len(f) > d.maxFrame:
			bad++
		case !d.filter.AcceptsFrame(f, d.mac): // the filter registers, with the runtime's rule
			filtered++
		case d.rxHead == d.rxTail && from != nil && d.flowControl:
			d.xoff, taken = from, i
		case d.rxHead == d.rxTail:
			noBuf++
		default:
			x := d.rx[d.rxHead%n].nbl
			buf := x.Frames[0][:cap(x.Frames[0])]
			x.Frames[0] = buf[:copy(buf, f)]
			d.rxHead++
			got++
		}
		if taken < len(frames) {
			break
		}
	}
	d.mu.Unlock()
	d.stats.rxFrames.Add(got)
	d.stats.rxFiltered.Add(filtered)
	d.stats.rxNoBuffer.Add(noBuf)
	d.stats.rxErrors.Add(bad)
	if got > 0 {
		d.raise(irqRx)
	}
	return taken
}

// releaseXoffLocked lets a held-back transmitter go on: the ring has room,
// or the device takes no frames at all any more.
func (d *Device) releaseXoffLocked() {
	if w := d.xoff; w != nil {
		d.xoff = nil
		w.ring()
	}
}

// hungLocked is the state CheckForHang reports: the device is dead after a
// failed reset; a fatal error has not been cleared by a reset within the
// send time-out (the driver's own reset request was lost); or the
// descriptor at the head of the transmit ring has waited for the hardware
// longer than the send time-out plus its own transmission time. A full ring
// whose hardware makes progress is not hung: the head changes as fast as
// the hardware works.
func (d *Device) hungLocked(now time.Time) bool {
	switch {
	case d.failed:
		return true
	case d.fatal:
		return now.Sub(d.fatalSince) > d.sendTimeout
	case d.txHead == d.txTail:
		return false
	}
	since := later(d.busyUntil, d.tx[d.txHead%uint64(len(d.tx))].postedAt)
	return now.Sub(since) > d.sendTimeout+d.latency
}

// --- the Go API ------------------------------------------------------------

// DeviceOf returns the device of a sim adapter, from the end of its
// Initialize to its Halt: the handle tests and soak runs use to read the
// device's counters and filter and to inject faults. It finds the device
// through the adapter's handle (ndis.Adapter.MiniportContext); a Miniport
// that wraps the sim's (a test's decorator) is seen through when it has an
// Unwrap() ndis.Miniport method, as errors are. It is false for an adapter
// of another driver.
func DeviceOf(a *ndis.Adapter) (*Device, bool) {
	mp := a.MiniportContext()
	for {
		switch x := mp.(type) {
		case *miniport:
			return x.d.unlessHalted()
		case interface{ Unwrap() ndis.Miniport }:
			mp = x.Unwrap()
		default:
			return nil, false
		}
	}
}

// unlessHalted returns d, and false once its adapter's Halt has begun.
func (d *Device) unlessHalted() (*Device, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, false
	}
	return d, true
}

// Name returns the name of the device's adapter.
func (d *Device) Name() string { return d.name }

// MAC returns the device's station address.
func (d *Device) MAC() ndis.MacAddress { return d.mac }

// Wire returns the name of the device's wire, or "" when it is looped back
// to itself.
func (d *Device) Wire() string { return d.wire }

// Peer returns the device at the other end of the wire, or nil (looped
// back, or nobody at the other end yet).
func (d *Device) Peer() *Device { return d.peer.Load() }

// Clock returns the clock the device's hardware and faults run on.
func (d *Device) Clock() ndis.Clock { return d.clock }

// SendTimeout returns how long a transmit descriptor may wait for the
// hardware before CheckForHang reports the device hung.
func (d *Device) SendTimeout() time.Duration { return d.sendTimeout }

// LinkUp reports whether the device's link is up.
func (d *Device) LinkUp() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.linkUpLocked()
}

// Failed reports whether the device is dead: its last reset failed.
func (d *Device) Failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}

// Filter is the device's receive filter: the registers the driver programs
// from OID_GEN_CURRENT_PACKET_FILTER, OID_802_3_MULTICAST_LIST and
// OID_GEN_CURRENT_LOOKAHEAD.
type Filter struct {
	PacketFilter uint32
	Multicast    []ndis.MacAddress
	Lookahead    uint32
}

// Equal reports whether two filters hold the same packet filter and
// lookahead and the same multicast addresses, in any order.
func (f Filter) Equal(g Filter) bool {
	if f.PacketFilter != g.PacketFilter || f.Lookahead != g.Lookahead || len(f.Multicast) != len(g.Multicast) {
		return false
	}
	for _, m := range f.Multicast {
		if !slices.Contains(g.Multicast, m) {
			return false
		}
	}
	return true
}

// Filter returns the device's receive filter registers.
func (d *Device) Filter() Filter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Filter{PacketFilter: d.filter.Types, Multicast: slices.Clone(d.filter.Multicast), Lookahead: d.lookahead}
}

// DeviceStats are the device's counters and a snapshot of its queues.
type DeviceStats struct {
	TxPosted    uint64 // frames the driver posted to the transmit ring
	TxFrames    uint64 // frames the hardware put on the wire (OID_GEN_XMIT_OK)
	TxLinkDown  uint64 // frames the hardware lost: link down, or nobody at the other end
	TxErrors    uint64 // frames the driver failed: a bad length, or a dead device
	TxAborted   uint64 // NBLs completed with StatusRequestAborted (reset, pause time-out)
	TxCompleted uint64 // NBLs completed, whatever their status
	TxQueued    int    // NBLs waiting in the driver's software queue for room in the ring
	TxRing      int    // descriptors in the transmit ring (posted, or done and not yet reaped)

	RxFrames    uint64 // frames the hardware wrote into receive buffers
	RxFiltered  uint64 // frames the hardware filter dropped
	RxNoBuffer  uint64 // frames lost for want of a posted receive buffer (overrun)
	RxErrors    uint64 // frames lost for their length (longer than the MTU allows)
	RxDropped   uint64 // frames lost because the device was resetting, dead or its link down
	RxIndicated uint64 // frames indicated to the runtime (OID_GEN_RCV_OK)
	RxDiscarded uint64 // frames the driver threw away because the adapter was paused
	RxHeld      int64  // receive NBLs indicated and not yet returned

	Resets         uint64 // Reset calls
	ResetsFailed   uint64 // of which failed (fail_reset)
	ResetsPended   uint64 // of which answered StatusPending (slow_reset)
	AddressingLost uint64 // resets that cleared the filter (lose_addressing)
	HangChecks     uint64 // CheckForHang calls
	HangsDetected  uint64 // of which answered true
	OidsStuck      uint64 // OID requests held by stuck_oid

	// Fired counts each fault: timed faults when they happened, event
	// faults when they were armed (or, random, when they struck).
	Fired map[FaultKind]uint64
	// Failed is true while the device is dead after a failed reset.
	Failed bool
}

// Stats returns the device's counters.
func (d *Device) Stats() DeviceStats {
	c := &d.stats
	s := DeviceStats{
		TxPosted: c.txPosted.Load(), TxFrames: c.txFrames.Load(), TxLinkDown: c.txLinkDown.Load(),
		TxErrors: c.txErrors.Load(), TxAborted: c.txAborted.Load(), TxCompleted: c.txCompleted.Load(),
		RxFrames: c.rxFrames.Load(), RxFiltered: c.rxFiltered.Load(), RxNoBuffer: c.rxNoBuffer.Load(),
		RxErrors: c.rxErrors.Load(), RxDropped: c.rxDropped.Load(), RxIndicated: c.rxIndicated.Load(),
		RxDiscarded: c.rxDiscarded.Load(),
		Resets:      c.resets.Load(), ResetsFailed: c.resetsFailed.Load(), ResetsPended: c.resetsPended.Load(),
		AddressingLost: c.addressingLost.Load(), HangChecks: c.hangChecks.Load(),
		HangsDetected: c.hangsDetected.Load(), OidsStuck: c.oidsStuck.Load(),
		Fired: make(map[FaultKind]uint64, numFaultKinds),
	}
	if m := d.m; m != nil {
		s.RxHeld = m.rxOutstanding.Load()
		m.mu.Lock()
		s.TxQueued = m.swLen
		m.mu.Unlock()
	}
	d.mu.Lock()
	s.TxRing = int(d.txTail - d.txClean)
	s.Failed = d.failed
	for k := range d.faults {
		s.Fired[FaultKind(k)] = d.faults[k].fired
	}
	d.mu.Unlock()
	return s
}

// Deliver hands frames to the device as if they had arrived from the wire:
// they go through the MTU check, the hardware filter and the receive ring
// like any other. The frames are copied; the caller keeps them.
func (d *Device) Deliver(frames ...[]byte) { d.receive(frames, nil) }
