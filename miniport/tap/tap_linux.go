package tap

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/internal/kit"
	"github.com/gondis/gondis/miniport/internal/vnet"
	"github.com/gondis/gondis/ndis"
)

var (
	_ ndis.Miniport    = (*miniport)(nil)
	_ ndis.Resetter    = (*miniport)(nil)
	_ ndis.HangChecker = (*miniport)(nil)
	_ tapMiniport      = (*miniport)(nil)
)

// openHook, when set (by tests), runs before every open of an interface;
// its error fails the open as the kernel's would.
var openHook atomic.Pointer[func() error]

// epoch makes monotonic nanosecond stamps for the hang check.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) + 1 } // never 0

// miniport is one TAP adapter.
type miniport struct {
	a      *ndis.Adapter
	cfg    config
	ns     netns.NsHandle // the interface's namespace, or not open
	nl     *netlink.Handle
	ifname string // fixed once the interface was first created; written under mu
	kmac   net.HardwareAddr
	pool   *ndis.Pool

	offload atomic.Uint32 // off… bits

	xmitError, rcvError, rcvNoBuffer               atomic.Uint64
	rcvGSO, rcvSegments, xmitGSO, xmitSoftSegments atomic.Uint64
	resubscribes                                   atomic.Uint64 // netlink subscriptions made again
	retries, deadErrors, resets, resetFailures     atomic.Uint64
	lastResetDur                                   atomic.Int64
	lastErr                                        atomic.Pointer[string]

	ifindex  atomic.Int64 // the current interface's, 0 while there is none
	queues   int          // descriptors to open: fixed by the first open
	steering atomic.Bool  // the steering program picks the receive queues

	watchDone chan struct{} // closed by Halt: stops the netlink watcher
	watchExit chan struct{} // closed when it has exited
	// restarted is closed by the first Restart: the readers indicate
	// nothing before it, as NDIS wants of a miniport that Initialize
	// left Paused.
	restarted   chan struct{}
	restartOnce sync.Once
	halting     atomic.Bool // Halt has begun: StatsOf and the others report false

	// linkMu orders the link indications; connected, the state last
	// indicated, is read without it (CheckForHang).
	linkMu    sync.Mutex
	connected atomic.Bool

	// pausing: Pause answered StatusPending; set and cleared under mu,
	// read without it by the writers as they go idle.
	pausing atomic.Bool

	mu sync.Mutex
	// dev is the current device, nil while there is none (a failed reset,
	// halted). Written under mu; SendNetBufferLists reads it without.
	dev      atomic.Pointer[device]
	stopping *device // the device stopDevice is stopping, until its counts are folded
	// The frames of the devices stopped: each queue counts its own, and
	// stopDevice adds them here.
	xmitOK, rcvOK uint64
}

// initialize is MiniportInitializeEx.
func initialize(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
	c, err := parseConfig(p.Name, p.Params)
	if err != nil {
		return nil, err
	}
	m := &miniport{
		a:         a,
		cfg:       c,
		ns:        netns.None(),
		ifname:    c.name,
		queues:    c.queues,
		watchDone: make(chan struct{}),
		watchExit: make(chan struct{}),
		restarted: make(chan struct{}),
	}
	if c.vnetHdr {
		m.offload.Store(offTxChecksum | offLargeSend | offReceive)
	}
	if err := m.open(); err != nil {
		m.closeHandles()
		return nil, err
	}
	d, err := m.openDevice()
	if err != nil {
		m.closeHandles()
		return nil, err
	}
	// Every reader keeps a batch of spare NBLs: the pool has room for
	// those and as much again three times over for the protocols.
	m.pool = ndis.NewPool(c.mtu+ndis.EthernetHeaderSize+vnetHeaderLen(c), max(PoolLimit, 4*Batch*len(d.queues)))
	connected := m.linkUp(d.ifname)
	m.connected.Store(connected)
	e := kit.Ethernet{MTU: c.mtu, MAC: c.mac, LinkSpeed: LinkSpeed, Connected: connected, MulticastList: MaxMulticastListSize}
	if err := kit.SetAttributes(a, 0, e); err != nil {
		d.close()
		m.closeHandles()
		return nil, err
	}
	if err := m.watch(); err != nil {
		d.close()
		m.closeHandles()
		return nil, err
	}
	m.start(d)
	return m, nil
}

// vnetHeaderLen is the room a receive buffer keeps for the virtio-net
// header.
func vnetHeaderLen(c config) int {
	if c.vnetHdr {
		return vnet.HeaderLen
	}
	return 0
}

// open opens the namespace and the netlink handle of the adapter.
func (m *miniport) open() error {
	var err error
	if m.cfg.netns != "" {
		if m.ns, err = netns.GetFromPath(m.cfg.netns); err != nil {
			return fmt.Errorf("tap: netns %s: %w", m.cfg.netns, err)
		}
		m.nl, err = netlink.NewHandleAt(m.ns)
	} else {
		m.nl, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("tap: netlink: %w", err)
	}
	return nil
}

func (m *miniport) closeHandles() {
	if m.nl != nil {
		m.nl.Close()
	}
	if m.ns.IsOpen() {
		m.ns.Close()
	}
}

// openDevice opens (or creates) the interface and configures it: the first
// time it learns the kernel side's MAC address, every later time it puts it
// back.
func (m *miniport) openDevice() (*device, error) {
	if h := openHook.Load(); h != nil {
		if err := (*h)(); err != nil {
			return nil, err
		}
	}
	r := tunRequest{name: m.ifname, queues: m.queues, persist: m.cfg.persist, vnetHdr: m.cfg.vnetHdr}
	if r.queues == 0 {
		r.queues, r.auto = min(runtime.GOMAXPROCS(0), MaxQueues), true
	}
	files, ifname, err := openTAP(m.ns, r)
	if err != nil {
		return nil, err
	}
	d := &device{ifname: ifname, stop: make(chan struct{})}
	for i, f := range files {
		q, err := newQueue(m, d, f)
		if err != nil {
			for _, f := range files[i:] {
				f.Close()
			}
			d.close()
			return nil, err
		}
		d.queues = append(d.queues, q)
	}
	if len(d.queues) > 1 {
		var err error
		cerr := d.queues[0].rc.Control(func(fd uintptr) { err = setSteering(int(fd)) })
		if err = errors.Join(cerr, err); err != nil {
			slog.Debug("tap: no steering program, the kernel picks the queues", slog.String("adapter", m.a.Name()), slog.Any("err", err))
		}
		m.steering.Store(err == nil)
	}
	idx, kmac, err := configure(m.nl, ifname, m.kmac, m.cfg.mtu)
	if err != nil {
		d.close()
		return nil, err
	}
	if m.cfg.vnetHdr {
		if err := d.setKernelOffload(m.offload.Load()&offReceive != 0); err != nil {
			d.close()
			return nil, fmt.Errorf("tap: TUNSETOFFLOAD: %w", err)
		}
	}
	m.mu.Lock() // Interface reads ifname
	m.ifname, m.kmac, m.queues = ifname, kmac, len(files)
	m.mu.Unlock()
	d.ifindex = idx
	m.ifindex.Store(int64(idx))
	return d, nil
}

// linkUp asks the kernel whether the interface is up with carrier.
func (m *miniport) linkUp(ifname string) bool {
	l, err := m.nl.LinkByName(ifname)
	if err != nil {
		return false
	}
	return up(l.Attrs().RawFlags)
}

func up(flags uint32) bool {
	return flags&unix.IFF_UP != 0 && flags&unix.IFF_LOWER_UP != 0
}

// start makes d the adapter's device and starts its reader and writer.
func (m *miniport) start(d *device) {
	m.mu.Lock()
	m.dev.Store(d)
	m.mu.Unlock()
	for _, q := range d.queues {
		go q.reader()
		go q.writer()
	}
}

// stopDevice closes the device's descriptors, which wakes its readers and
// writers, and waits for them. With keep, a live interface survives the
// close (a reset re-attaches to it). It returns the device stopped, whose
// queues may still hold sends no writer took. Work goroutine only.
func (m *miniport) stopDevice(keep bool) *device {
	m.mu.Lock()
	d := m.dev.Swap(nil)
	m.stopping = d
	m.mu.Unlock()
	if d == nil {
		return nil
	}
	m.ifindex.Store(0)
	close(d.stop)
	if keep && !m.cfg.persist && !d.dead.Load() {
		// A reset of a live interface: keep it, with the kernel side's
		// addresses and routes, across the close; openTUN clears the flag.
		_ = d.queues[0].rc.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, 1) })
	}
	d.close()
	for _, q := range d.queues {
		<-q.readerDone
		<-q.writerDone
	}
	m.mu.Lock()
	for _, q := range d.queues {
		m.xmitOK += q.xmitOK.Load()
		m.rcvOK += q.rcvOK.Load()
	}
	m.stopping = nil
	m.mu.Unlock()
	return d
}

// frames returns the frames written and read since Initialize.
func (m *miniport) frames() (xmit, rcv uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.framesLocked()
}

func (m *miniport) framesLocked() (xmit, rcv uint64) {
	xmit, rcv = m.xmitOK, m.rcvOK
	for _, d := range []*device{m.dev.Load(), m.stopping} {
		if d == nil {
			continue
		}
		for _, q := range d.queues {
			xmit += q.xmitOK.Load()
			rcv += q.rcvOK.Load()
		}
	}
	return xmit, rcv
}

// deviceDead records an error that means the interface or the descriptor
// of d is gone, and asks for a reset. A request the runtime drops (a reset
// was running) is made again by CheckForHang, which reports a dead device.
// Any goroutine.
func (m *miniport) deviceDead(d *device, why string, err error) {
	if d != nil {
		d.dead.Store(true)
	}
	m.deadErrors.Add(1)
	s := why + ": " + err.Error()
	m.lastErr.Store(&s)
	m.a.ResetMiniport()
}

// indicateLink indicates a link state when it changed. Any goroutine.
func (m *miniport) indicateLink(connected bool) {
	// linkMu is held across the indication so that two goroutines (the
	// netlink watcher, the writer) cannot deliver their changes out of
	// order; it is a leaf lock that no runtime or protocol path takes.
	m.linkMu.Lock()
	defer m.linkMu.Unlock()
	if m.connected.Load() == connected {
		return
	}
	m.connected.Store(connected)
	st := ndis.MediaConnectStateDisconnected
	if connected {
		st = ndis.MediaConnectStateConnected
	}
	m.a.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{
		MediaConnectState: st,
		MediaDuplexState:  ndis.MediaDuplexStateFull,
		XmitLinkSpeed:     LinkSpeed,
		RcvLinkSpeed:      LinkSpeed,
	}.Marshal())
}

func (m *miniport) isConnected() bool { return m.connected.Load() }

// ReturnNetBufferLists is MiniportReturnNetBufferLists: receive NBLs go back
// to the pool. It never blocks.
func (m *miniport) ReturnNetBufferLists(l *ndis.NetBufferList) {
	m.pool.Put(l)
}

// --- link state ------------------------------------------------------------

// watch subscribes to the link changes of the interface's namespace and
// starts the goroutine that turns them into link-state indications and,
// for the deletion of the current interface, a reset. A subscription that
// fails after the start (its socket overran, say) is made again, and what
// happened meanwhile is read from the kernel, until Halt.
func (m *miniport) watch() error {
	ch, err := m.subscribe()
	if err != nil {
		close(m.watchExit)
		return err
	}
	go func() {
		defer close(m.watchExit)
		for {
			for u := range ch {
				m.linkUpdate(int64(u.Index), u.Header.Type == unix.RTM_DELLINK, u.IfInfomsg.Flags)
			}
			for {
				select {
				case <-m.watchDone:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if ch, err = m.subscribe(); err == nil {
					m.resubscribes.Add(1)
					break
				}
				slog.Warn("tap: netlink subscription", slog.String("adapter", m.a.Name()), slog.Any("err", err))
			}
			m.resync()
		}
	}()
	return nil
}

// subscribe subscribes to the link changes of the interface's namespace,
// until Halt closes watchDone.
func (m *miniport) subscribe() (<-chan netlink.LinkUpdate, error) {
	ch := make(chan netlink.LinkUpdate, 64)
	opts := netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			slog.Debug("tap: netlink", slog.String("adapter", m.a.Name()), slog.Any("err", err))
		},
	}
	if m.ns.IsOpen() {
		opts.Namespace = &m.ns
	}
	if err := netlink.LinkSubscribeWithOptions(ch, m.watchDone, opts); err != nil {
		return nil, fmt.Errorf("tap: netlink subscribe: %w", err)
	}
	return ch, nil
}

// resync asks the kernel for the state of the current interface after a
// gap in the subscription.
func (m *miniport) resync() {
	idx := m.ifindex.Load()
	if idx == 0 {
		return
	}
	l, err := m.nl.LinkByIndex(int(idx))
	if err != nil {
		m.linkUpdate(idx, true, 0) // gone meanwhile
		return
	}
	m.linkUpdate(idx, false, l.Attrs().RawFlags)
}

// linkUpdate handles a change of the interface with index idx: its
// deletion, or its new flags.
func (m *miniport) linkUpdate(idx int64, deleted bool, flags uint32) {
	if idx == 0 || idx != m.ifindex.Load() {
		return // another interface, or one this adapter replaced
	}
	if deleted {
		d := m.dev.Load()
		if d == nil || int64(d.ifindex) != idx {
			return // a reset replaced it meanwhile
		}
		m.indicateLink(false)
		m.deviceDead(d, "netlink", errors.New("interface deleted"))
		return
	}
	m.indicateLink(up(flags))
}

// --- life cycle --------------------------------------------------------------

// Pause is MiniportPause: StatusSuccess when nothing is queued, else
// StatusPending and the writer calls PauseComplete once it has written
// every queued send.
func (m *miniport) Pause() ndis.Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Set before the queues are looked at: a writer that goes idle after
	// the look sees it, and completes the pause (pauseDone).
	m.pausing.Store(true)
	if d := m.dev.Load(); d == nil || d.idle() {
		m.pausing.Store(false)
		return ndis.StatusSuccess
	}
	return ndis.StatusPending
}

// pauseDone completes a pending pause once no queue of d, the current
// device, holds or writes a send. A writer calls it when it goes idle
// while a pause is pending.
func (m *miniport) pauseDone(d *device) {
	m.mu.Lock()
	done := m.pausing.Load() && d.idle()
	if done {
		m.pausing.Store(false)
	}
	m.mu.Unlock()
	if done {
		m.a.PauseComplete()
	}
}

// Restart is MiniportRestart. The first one lets the readers start.
func (m *miniport) Restart() ndis.Status {
	m.restartOnce.Do(func() { close(m.restarted) })
	return ndis.StatusSuccess
}

// Reset is MiniportResetEx. It runs on the work goroutine with the gate
// closed: it stops the device, completes every queued send with
// StatusRequestAborted, opens or re-creates the interface (same namespace,
// same name, same kernel-side MAC address and MTU, up) and answers
// addressingReset = true. An interface that still exists (an operator's or
// a hang's reset) is kept across the reset, so the kernel side keeps its
// addresses and routes; a deleted one is re-created bare.
func (m *miniport) Reset() (addressingReset bool, s ndis.Status) {
	start := time.Now()
	m.resets.Add(1)
	old := m.stopDevice(true)
	if old != nil {
		// The sends no writer took. A sender that queued on old after
		// the device was swapped takes them back itself (abandoned).
		m.abandoned(old)
	}
	// The writers have stopped: none completes the pause now.
	m.mu.Lock()
	pausing := m.pausing.Swap(false)
	m.mu.Unlock()
	if pausing {
		m.a.PauseComplete()
	}
	d, err := m.openDevice()
	if err != nil {
		m.resetFailures.Add(1)
		msg := "reset: " + err.Error()
		m.lastErr.Store(&msg)
		m.lastResetDur.Store(int64(time.Since(start)))
		return true, ndis.StatusHardErrors
	}
	m.start(d)
	m.indicateLink(m.linkUp(d.ifname))
	m.lastResetDur.Store(int64(time.Since(start)))
	return true, ndis.StatusSuccess
}

// CheckForHang is MiniportCheckForHangEx: true when the adapter has no
// interface (a failed reset: try again), when its device is known dead (a
// reset request the runtime dropped while another reset ran), or when a
// write has made no progress for SendTimeout while the link is up.
func (m *miniport) CheckForHang() bool {
	d := m.dev.Load()
	if d == nil || d.dead.Load() {
		return true
	}
	for _, q := range d.queues {
		if w := q.writing.Load(); w != 0 && time.Duration(now()-w) > SendTimeout && m.isConnected() {
			return true
		}
	}
	return false
}

// Halt is MiniportHaltEx: it stops the device and the netlink watcher and
// closes the descriptor. A non-persistent interface goes away with it.
func (m *miniport) Halt(ndis.HaltAction) {
	m.halting.Store(true)
	m.stopDevice(false)
	close(m.watchDone)
	<-m.watchExit
	m.closeHandles()
}

// OidRequest is MiniportOidRequest. Every request is answered inline.
func (m *miniport) OidRequest(r *ndis.OidRequest) ndis.Status {
	switch r.Type {
	case ndis.RequestSet:
		switch r.OID {
		// The TAP passes every frame and whole frames: the runtime filters
		// per binding, so the filter, the list and the lookahead are only
		// checked, not kept.
		case ndis.OIDGenCurrentPacketFilter, ndis.OIDGenCurrentLookahead:
			_, s := r.Ulong()
			return s
		case ndis.OID8023MulticastList:
			_, s := r.MulticastList(MaxMulticastListSize)
			return s
		case ndis.OIDTCPOffloadParameters:
			return m.setOffloadParameters(r)
		}
	case ndis.RequestQuery:
		switch r.OID {
		case ndis.OIDGenXmitOK:
			xmit, _ := m.frames()
			return r.PutCounter(xmit)
		case ndis.OIDGenRcvOK:
			_, rcv := m.frames()
			return r.PutCounter(rcv)
		case ndis.OIDGenXmitError:
			return r.PutCounter(m.xmitError.Load())
		case ndis.OIDGenRcvError:
			return r.PutCounter(m.rcvError.Load())
		case ndis.OIDGenRcvNoBuffer:
			return r.PutCounter(m.rcvNoBuffer.Load())
		}
	}
	return ndis.StatusInvalidOid
}

func (m *miniport) halted() bool { return m.halting.Load() }

// interfaceName returns the name of the current interface, or of the last
// one while there is none.
func (m *miniport) interfaceName() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ifname
}

func (m *miniport) stats() Stats {
	s := Stats{
		XmitError: m.xmitError.Load(),
		RcvError:  m.rcvError.Load(), RcvNoBuffer: m.rcvNoBuffer.Load(),
		Retries: m.retries.Load(), DeadErrors: m.deadErrors.Load(),
		Resets: m.resets.Load(), ResetFailures: m.resetFailures.Load(),
		LastResetDuration: time.Duration(m.lastResetDur.Load()),
		Steering:          m.steering.Load(),
		Resubscribes:      m.resubscribes.Load(),
		RcvGSO:            m.rcvGSO.Load(), RcvSegments: m.rcvSegments.Load(),
		XmitGSO: m.xmitGSO.Load(), XmitSoftSegments: m.xmitSoftSegments.Load(),
	}
	if e := m.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	m.mu.Lock() // the totals and the current queues, from one device
	s.XmitOK, s.RcvOK = m.framesLocked()
	if d := m.dev.Load(); d != nil {
		for _, q := range d.queues {
			s.Queues = append(s.Queues, QueueStats{XmitOK: q.xmitOK.Load(), RcvOK: q.rcvOK.Load()})
		}
	}
	m.mu.Unlock()
	return s
}
