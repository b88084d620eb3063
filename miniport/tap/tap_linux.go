package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/ndis"
)

// Driver returns the TAP miniport driver, named "tap", written against
// NDIS 6.30 (so it may be reset).
func Driver() ndis.MiniportDriver {
	return ndis.MiniportDriver{
		Name:       "tap",
		Version:    ndis.Version630,
		Initialize: initialize,
	}
}

// Stats are a TAP adapter's own counters, in frames.
type Stats struct {
	XmitOK, XmitError, RcvOK, RcvError, RcvNoBuffer uint64
	Retries                                         uint64 // EAGAIN, EINTR, ENOBUFS
	DeadErrors                                      uint64 // errors that asked for a reset
	Resets, ResetFailures                           uint64
	LastResetDuration                               time.Duration // Reset entered to returned
	LastError                                       string        // the last error that asked for a reset
}

// StatsOf returns the counters of a TAP adapter's miniport, or false when
// the adapter is not a TAP adapter (or is halted).
func StatsOf(a *ndis.Adapter) (Stats, bool) {
	m, ok := adapters.Load(a)
	if !ok {
		return Stats{}, false
	}
	return m.(*miniport).stats(), true
}

// Interface returns the name of a TAP adapter's interface.
func Interface(a *ndis.Adapter) (string, bool) {
	m, ok := adapters.Load(a)
	if !ok {
		return "", false
	}
	return m.(*miniport).ifname, true
}

var adapters sync.Map // *ndis.Adapter -> *miniport

// epoch makes monotonic nanosecond stamps for the hang check.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) + 1 } // never 0

// miniport is one TAP adapter.
type miniport struct {
	a      *ndis.Adapter
	cfg    config
	ns     netns.NsHandle // the interface's namespace, or not open
	nl     *netlink.Handle
	ifname string // fixed once the interface was first created
	kmac   net.HardwareAddr
	pool   *ndis.Pool

	filter    atomic.Uint32
	multicast atomic.Pointer[[]ndis.MacAddress]
	lookahead atomic.Uint32

	xmitOK, xmitError, rcvOK, rcvError, rcvNoBuffer atomic.Uint64
	retries, deadErrors, resets, resetFailures      atomic.Uint64
	lastResetDur                                    atomic.Int64
	lastErr                                         atomic.Pointer[string]

	ifindex atomic.Int64 // the current interface's, 0 while there is none
	writing atomic.Int64 // since when a write waits for room with no progress, or 0
	w       writeState   // the writer's cursor
	r       readState    // the reader's batch

	wake chan struct{} // capacity 1: sends are pending, or a pause may be done

	watchDone chan struct{} // closed by Halt: stops the netlink watcher
	watchExit chan struct{} // closed when it has exited

	// linkMu orders the link indications; connected, the state last
	// indicated, is read without it (CheckForHang).
	linkMu    sync.Mutex
	connected atomic.Bool

	mu         sync.Mutex
	dev        *device // nil while there is none (a failed reset, halted)
	head, tail *ndis.NetBufferList
	busy       bool // the writer is writing a chain it took
	pausing    bool // Pause answered StatusPending
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
		pool:      ndis.NewPool(c.mtu+ethernetHeaderSize, PoolLimit),
		wake:      make(chan struct{}, 1),
		watchDone: make(chan struct{}),
		watchExit: make(chan struct{}),
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
	connected := m.linkUp(d.ifname)
	m.connected.Store(connected)
	state := ndis.MediaConnectStateDisconnected
	if connected {
		state = ndis.MediaConnectStateConnected
	}
	err = a.SetMiniportAttributes(&ndis.RegistrationAttributes{})
	if err == nil {
		err = a.SetMiniportAttributes(&ndis.GeneralAttributes{
			MtuSize:              uint32(c.mtu),
			MaxXmitLinkSpeed:     LinkSpeed,
			MaxRcvLinkSpeed:      LinkSpeed,
			XmitLinkSpeed:        LinkSpeed,
			RcvLinkSpeed:         LinkSpeed,
			MediaConnectState:    state,
			MediaDuplexState:     ndis.MediaDuplexStateFull,
			LookaheadSize:        uint32(c.mtu),
			MaxMulticastListSize: MaxMulticastListSize,
			PermanentMacAddress:  c.mac,
			CurrentMacAddress:    c.mac,
		})
	}
	if err != nil {
		d.file.Close()
		m.closeHandles()
		return nil, err
	}
	if err := m.watch(); err != nil {
		d.file.Close()
		m.closeHandles()
		return nil, err
	}
	m.start(d)
	adapters.Store(a, m)
	return m, nil
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
	f, ifname, err := openTAP(m.ns, m.ifname, m.cfg.persist)
	if err != nil {
		return nil, err
	}
	idx, kmac, err := configure(m.nl, ifname, m.kmac, m.cfg.mtu)
	if err != nil {
		f.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	m.ifname, m.kmac = ifname, kmac
	m.ifindex.Store(int64(idx))
	return &device{file: f, rc: rc, ifname: ifname, ifindex: idx, stop: make(chan struct{}),
		readerDone: make(chan struct{}), writerDone: make(chan struct{}), writeFn: m.writeSome, readFn: m.readSome}, nil
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
	m.dev = d
	m.mu.Unlock()
	go m.reader(d)
	go m.writer(d)
	m.signal() // sends queued meanwhile, a pending pause
}

// stopDevice closes the device's descriptor, which wakes its reader and
// writer, and waits for both. With keep, a live interface survives the
// close (a reset re-attaches to it). Work goroutine only.
func (m *miniport) stopDevice(keep bool) {
	m.mu.Lock()
	d := m.dev
	m.dev = nil
	m.mu.Unlock()
	if d == nil {
		return
	}
	m.ifindex.Store(0)
	close(d.stop)
	if keep && !m.cfg.persist && !d.dead.Load() {
		// A reset of a live interface: keep it, with the kernel side's
		// addresses and routes, across the close; openTUN clears the flag.
		_ = d.rc.Control(func(fd uintptr) { _ = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, 1) })
	}
	d.file.Close()
	<-d.readerDone
	<-d.writerDone
}

func (m *miniport) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
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

// --- receive -------------------------------------------------------------

// reader is the receive goroutine of one device: it reads every frame
// waiting on the descriptor into pooled NBLs, with no poller round trip
// while data is ready, and indicates them in one call per batch.
func (m *miniport) reader(d *device) {
	defer close(d.readerDone)
	r := &m.r
	defer func() {
		m.pool.Put(r.spare)
		*r = readState{}
	}()
	for {
		if r.nspare < Batch {
			if l, n := m.pool.Get(Batch - r.nspare); l != nil {
				t := l
				for t.Next != nil {
					t = t.Next
				}
				t.Next = r.spare
				r.spare = l
				r.nspare += n
			}
		}
		if r.spare == nil {
			// Every receive NBL is with the protocols: back-pressure.
			m.rcvNoBuffer.Add(1)
			select {
			case <-d.stop:
				return
			case <-time.After(time.Millisecond):
			}
			continue
		}
		r.head, r.tail, r.n, r.err = nil, nil, 0, nil
		err := d.rc.Read(d.readFn)
		if r.n > 0 {
			head := r.head
			r.head, r.tail = nil, nil
			m.rcvOK.Add(uint64(r.n))
			m.a.IndicateReceiveNetBufferLists(head, 0)
		}
		if err == nil {
			err = r.err
		}
		if err == nil {
			continue
		}
		if d.stopping() {
			return // the descriptor was closed under us (its error is poll's, not os.ErrClosed)
		}
		switch classify(err) {
		case errClosed:
			return
		case errTransient:
			m.retries.Add(1)
			continue
		case errDead:
			m.deviceDead(d, "read", err)
		default:
			m.rcvError.Add(1)
			m.deviceDead(d, "read", err)
		}
		<-d.stop // the reset stops this device
		return
	}
}

// readState is the reader's batch: reader goroutine only.
type readState struct {
	spare      *ndis.NetBufferList // empty NBLs to read into
	nspare     int
	head, tail *ndis.NetBufferList // the frames read, to indicate
	n          int
	err        error // the error that stopped readSome
}

// readSome is the poller callback of the reader: it reads frames until the
// descriptor is empty (false when nothing was read: the poller waits), the
// batch is full, or a call fails (true, r.err set).
func (m *miniport) readSome(fd uintptr) bool {
	r := &m.r
	for r.spare != nil {
		x := r.spare
		buf := x.Frames[0][:cap(x.Frames[0])]
		k, err := unix.Read(int(fd), buf)
		switch {
		case err == unix.EAGAIN:
			return r.n > 0
		case err == unix.EINTR:
			m.retries.Add(1)
			continue
		case err != nil:
			r.err = err
			return true
		case k < ethernetHeaderSize:
			m.rcvError.Add(1)
			continue
		}
		x.Frames[0] = buf[:k]
		r.spare = x.Next
		x.Next = nil
		r.nspare--
		if r.head == nil {
			r.head = x
		} else {
			r.tail.Next = x
		}
		r.tail = x
		r.n++
	}
	return true
}

// ReturnNetBufferLists is MiniportReturnNetBufferLists: receive NBLs go back
// to the pool. It never blocks.
func (m *miniport) ReturnNetBufferLists(l *ndis.NetBufferList) {
	m.pool.Put(l)
}

// --- send ----------------------------------------------------------------

// SendNetBufferLists is MiniportSendNetBufferLists: it queues the chain for
// the writer goroutine under one lock. It never blocks; with no device (a
// failed reset) it completes the chain inline with StatusRequestAborted.
func (m *miniport) SendNetBufferLists(l *ndis.NetBufferList) {
	if l == nil {
		return
	}
	tail := l
	for tail.Next != nil {
		tail = tail.Next
	}
	m.mu.Lock()
	if m.dev == nil {
		m.mu.Unlock()
		m.abort(l)
		return
	}
	if m.head == nil {
		m.head = l
	} else {
		m.tail.Next = l
	}
	m.tail = tail
	wake := !m.busy && m.head == l
	m.mu.Unlock()
	if wake {
		m.signal()
	}
}

// abort completes a chain with StatusRequestAborted.
func (m *miniport) abort(l *ndis.NetBufferList) {
	if l == nil {
		return
	}
	var n uint64
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusRequestAborted
		n += uint64(len(x.Frames))
	}
	m.xmitError.Add(n)
	m.a.SendNetBufferListsComplete(l)
}

// writer is the send goroutine of one device.
func (m *miniport) writer(d *device) {
	defer close(d.writerDone)
	for {
		select {
		case <-d.stop:
			return
		case <-m.wake:
		}
		m.service(d)
	}
}

// service writes every queued chain, then completes a pending pause.
func (m *miniport) service(d *device) {
	m.mu.Lock()
	for {
		l := m.head
		m.head, m.tail = nil, nil
		if l == nil {
			m.busy = false
			break
		}
		m.busy = true
		m.mu.Unlock()
		m.transmit(d, l)
		m.mu.Lock()
	}
	done := m.pausing
	m.pausing = false
	m.mu.Unlock()
	if done {
		m.a.PauseComplete()
	}
}

// transmit writes a chain frame by frame, one system call each, and
// completes it in one call. An NBL fails whole at its first frame that
// fails; the frames go out in one poller operation for as long as the
// descriptor takes them (no per-frame poller round trip, no allocation).
func (m *miniport) transmit(d *device, l *ndis.NetBufferList) {
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusSuccess
	}
	w := &m.w
	w.cur, w.frame, w.err = l, 0, nil
	nobufs := 0
	for w.cur != nil {
		w.err = nil
		err := d.rc.Write(d.writeFn)
		if err == nil {
			err = w.err
		}
		if err == nil {
			continue // w.cur is nil: all written
		}
		if d.stopping() {
			m.failRest(ndis.StatusRequestAborted)
			break
		}
		switch classify(err) {
		case errClosed:
			m.failRest(ndis.StatusRequestAborted)
		case errTransient: // ENOBUFS: the kernel is short of memory
			m.retries.Add(1)
			if nobufs++; nobufs > maxNoBuffers {
				m.failCur(ndis.StatusResources)
				nobufs = 0
				continue
			}
			select {
			case <-d.stop:
				m.failRest(ndis.StatusRequestAborted)
			case <-time.After(100 * time.Microsecond):
			}
			continue
		case errAdminDown:
			m.indicateLink(false)
			m.failCur(ndis.StatusMediaDisconnected)
			continue
		case errDead:
			m.deviceDead(d, "write", err)
			m.failRest(ndis.StatusDeviceFailed)
		case errBadFrame:
			m.failCur(ndis.StatusInvalidLength)
			continue
		default:
			m.failCur(ndis.StatusFailure)
			continue
		}
		break
	}
	m.writing.Store(0)
	w.cur = nil
	m.a.SendNetBufferListsComplete(l)
}

// maxNoBuffers is how many ENOBUFS in a row fail a frame.
const maxNoBuffers = 100

// writeState is the writer's cursor in the chain it writes: writer
// goroutine only.
type writeState struct {
	cur   *ndis.NetBufferList // the NBL being written, nil when done
	frame int                 // its next frame
	err   error               // the error that stopped writeSome
}

// writeSome is the poller callback of transmit: it writes frames from the
// cursor on until the chain is done (true), the descriptor is full (false:
// the poller waits for room) or a call fails (true, w.err set).
func (m *miniport) writeSome(fd uintptr) bool {
	w := &m.w
	maxFrame := m.cfg.mtu + ethernetHeaderSize
	for w.cur != nil {
		if w.frame == len(w.cur.Frames) {
			w.cur, w.frame = w.cur.Next, 0
			continue
		}
		f := w.cur.Frames[w.frame]
		if len(f) < ethernetHeaderSize || len(f) > maxFrame {
			m.failCur(ndis.StatusInvalidLength)
			continue
		}
		_, err := unix.Write(int(fd), f)
		switch err {
		case nil:
			m.xmitOK.Add(1)
			w.frame++
			if m.writing.Load() != 0 {
				m.writing.Store(0) // progress
			}
		case unix.EINTR:
			m.retries.Add(1)
		case unix.EAGAIN:
			m.retries.Add(1)
			if m.writing.Load() == 0 {
				m.writing.Store(now()) // no progress from now on, until there is
			}
			return false
		default:
			w.err = err
			return true
		}
	}
	return true
}

// failCur fails the NBL at the cursor and moves on to the next one.
func (m *miniport) failCur(s ndis.Status) {
	w := &m.w
	w.cur.Status = s
	m.xmitError.Add(1)
	w.cur, w.frame = w.cur.Next, 0
}

// failRest fails every NBL from the cursor on.
func (m *miniport) failRest(s ndis.Status) {
	for m.w.cur != nil {
		m.failCur(s)
	}
}

// --- link state ------------------------------------------------------------

// watch subscribes to the link changes of the interface's namespace and
// starts the goroutine that turns them into link-state indications and,
// for the deletion of the current interface, a reset.
func (m *miniport) watch() error {
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
		close(m.watchExit)
		return fmt.Errorf("tap: netlink subscribe: %w", err)
	}
	go func() {
		defer close(m.watchExit)
		for u := range ch {
			idx := int64(u.Index)
			if idx == 0 || idx != m.ifindex.Load() {
				continue // another interface, or one this adapter replaced
			}
			if u.Header.Type == unix.RTM_DELLINK {
				m.mu.Lock()
				d := m.dev
				m.mu.Unlock()
				if d == nil || int64(d.ifindex) != idx {
					continue // a reset replaced it meanwhile
				}
				m.indicateLink(false)
				m.deviceDead(d, "netlink", errors.New("interface deleted"))
				continue
			}
			m.indicateLink(up(u.IfInfomsg.Flags))
		}
	}()
	return nil
}

// --- life cycle --------------------------------------------------------------

// Pause is MiniportPause: StatusSuccess when nothing is queued, else
// StatusPending and the writer calls PauseComplete once it has written
// every queued send.
func (m *miniport) Pause() ndis.Status {
	m.mu.Lock()
	if m.dev == nil || m.head == nil && !m.busy {
		l := m.head
		m.head, m.tail = nil, nil
		m.mu.Unlock()
		m.abort(l)
		return ndis.StatusSuccess
	}
	m.pausing = true
	m.mu.Unlock()
	m.signal()
	return ndis.StatusPending
}

// Restart is MiniportRestart.
func (m *miniport) Restart() ndis.Status { return ndis.StatusSuccess }

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
	m.stopDevice(true)
	m.mu.Lock()
	l := m.head
	m.head, m.tail = nil, nil
	m.busy = false
	pausing := m.pausing
	m.pausing = false
	m.mu.Unlock()
	m.abort(l)
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
	m.mu.Lock()
	d := m.dev
	m.mu.Unlock()
	if d == nil || d.dead.Load() {
		return true
	}
	w := m.writing.Load()
	return w != 0 && time.Duration(now()-w) > SendTimeout && m.isConnected()
}

// Halt is MiniportHaltEx: it stops the device and the netlink watcher and
// closes the descriptor. A non-persistent interface goes away with it.
func (m *miniport) Halt(ndis.HaltAction) {
	adapters.Delete(m.a)
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
		case ndis.OIDGenCurrentPacketFilter:
			v, s := r.Ulong()
			if s == ndis.StatusSuccess {
				m.filter.Store(v) // the TAP passes everything; the runtime filters
			}
			return s
		case ndis.OID8023MulticastList:
			list, s := r.MulticastList(MaxMulticastListSize)
			if s == ndis.StatusSuccess {
				m.multicast.Store(&list) // the TAP passes everything; the runtime filters
			}
			return s
		case ndis.OIDGenCurrentLookahead:
			v, s := r.Ulong()
			if s == ndis.StatusSuccess {
				m.lookahead.Store(v)
			}
			return s
		}
	case ndis.RequestQuery:
		switch r.OID {
		case ndis.OIDGenXmitOK:
			return putCounter(r, m.xmitOK.Load())
		case ndis.OIDGenRcvOK:
			return putCounter(r, m.rcvOK.Load())
		case OIDGenXmitError:
			return putCounter(r, m.xmitError.Load())
		case OIDGenRcvError:
			return putCounter(r, m.rcvError.Load())
		case OIDGenRcvNoBuffer:
			return putCounter(r, m.rcvNoBuffer.Load())
		}
	}
	return ndis.StatusInvalidOid
}

// putCounter answers a statistics query: a ULONG64 when the buffer holds
// one, else the low 32 bits with BytesNeeded 8.
func putCounter(r *ndis.OidRequest, v uint64) ndis.Status {
	var b [8]byte
	if len(r.Buffer) >= len(b) {
		binary.LittleEndian.PutUint64(b[:], v)
		return r.PutBytes(b[:])
	}
	s := r.PutUlong(uint32(v))
	r.BytesNeeded = len(b)
	return s
}

func (m *miniport) stats() Stats {
	s := Stats{
		XmitOK: m.xmitOK.Load(), XmitError: m.xmitError.Load(),
		RcvOK: m.rcvOK.Load(), RcvError: m.rcvError.Load(), RcvNoBuffer: m.rcvNoBuffer.Load(),
		Retries: m.retries.Load(), DeadErrors: m.deadErrors.Load(),
		Resets: m.resets.Load(), ResetFailures: m.resetFailures.Load(),
		LastResetDuration: time.Duration(m.lastResetDur.Load()),
	}
	if e := m.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}
