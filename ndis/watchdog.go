package ndis

import (
	"bytes"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// The watchdog (DESIGN: no handler can wedge an adapter). It runs on no
// adapter's work goroutine: a timer on the runtime's clock, re-armed each
// tick, looks at every adapter. A miniport handler that has run longer than
// the handler timeout (or a pause or restart the miniport answered
// StatusPending and never completed) is reported with rule HandlerTimeout,
// naming the handler, the adapter and the stuck goroutine's stack, and the
// adapter is failed: its gate shuts, its protocols are unbound from the
// watchdog's goroutine, and RemoveAdapter and Close return within their
// context even while the handler never returns. A protocol handler that
// has run longer gets its binding torn down: closed, its OID requests
// answered StatusClosing, nothing more delivered to it.

// RuleHandlerTimeout: a miniport or protocol handler ran longer than the
// handler timeout (WithHandlerTimeout), or a pause or restart was never
// completed.
const RuleHandlerTimeout = "HandlerTimeout"

const defaultHandlerTimeout = 30 * time.Second

// wallClock is the watchdog's clock, whatever WithClock says: it guards
// against goroutines that never come back, in real time; a fake clock a
// test holds still must not switch it off (docs/RESET.md).
var wallClock = RealClock()

// WithHandlerTimeout sets how long a miniport or protocol handler may run,
// and a pending pause or restart may stay pending, before the watchdog
// steps in (default 30 s; NDIS's verifier gives OIDs 12 s). Zero or less
// turns the watchdog off.
func WithHandlerTimeout(d time.Duration) Option { return func(c *config) { c.handlerTimeout = d } }

// watchdog is the runtime's timer.
type watchdog struct {
	mu    sync.Mutex
	timer Timer // nil when not armed
}

// armWatchdog arms the watchdog's next tick, unless it is armed, off or
// the runtime is closed.
func (rt *Runtime) armWatchdog() {
	d := rt.cfg.handlerTimeout
	if d <= 0 {
		return
	}
	w := &rt.wd
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		return
	}
	w.timer = wallClock.AfterFunc(watchPeriod(d), rt.watchdogTick)
}

// watchPeriod is the tick: a quarter of the timeout, so a stuck handler is
// caught within 1.25 timeouts.
func watchPeriod(d time.Duration) time.Duration { return max(d/4, time.Millisecond) }

func (rt *Runtime) stopWatchdog() {
	w := &rt.wd
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
}

// watchdogTick looks at every adapter once, then re-arms while the runtime
// has adapters to watch.
func (rt *Runtime) watchdogTick() {
	rt.wd.mu.Lock()
	rt.wd.timer = nil
	rt.wd.mu.Unlock()
	rt.mu.Lock()
	closed := rt.closed
	as := make([]*Adapter, 0, len(rt.adapters))
	for _, a := range rt.adapters {
		as = append(as, a)
	}
	rt.mu.Unlock()
	now := wallClock.Now()
	for _, a := range as {
		a.watchHandlers(now, rt.cfg.handlerTimeout)
	}
	if !closed && len(as) > 0 {
		rt.armWatchdog()
	}
}

// adapterWatch is what the watchdog knows of an adapter's work goroutine.
type adapterWatch struct {
	mu        sync.Mutex
	goid      uint64    // the work goroutine's id, for its stack
	call      string    // the miniport handler the work goroutine is in, or ""
	oid       OID       // the request, when call is MiniportOidRequest
	since     time.Time // when it entered it
	reported  bool      // this call was reported
	pending   string    // a pause or restart answered StatusPending, or ""
	pendSince time.Time
}

// enterMiniport records that the work goroutine calls a miniport handler;
// leaveMiniport that it returned.
// onWorkGoroutine reports whether the caller runs on the adapter's work
// goroutine. It reads the goroutine's id from its stack: for the rare
// blocking call from a handler, never the datapath.
func (a *Adapter) onWorkGoroutine() bool {
	a.wd.mu.Lock()
	id := a.wd.goid
	a.wd.mu.Unlock()
	return id != 0 && goroutineID() == id
}

func (a *Adapter) enterMiniport(name string) { a.enterCall(name, 0) }

// enterMiniportOID records a MiniportOidRequest call for oid; the
// report's name is built only if it is ever needed.
func (a *Adapter) enterMiniportOID(oid OID) { a.enterCall(miniportOidRequest, oid) }

const miniportOidRequest = "MiniportOidRequest"

func (a *Adapter) enterCall(name string, oid OID) {
	w := &a.wd
	now := wallClock.Now()
	w.mu.Lock()
	w.call, w.oid, w.since, w.reported = name, oid, now, false
	w.mu.Unlock()
}

func (a *Adapter) leaveMiniport() {
	w := &a.wd
	w.mu.Lock()
	w.call = ""
	w.mu.Unlock()
}

// pendingOp records a pause or restart the miniport answered StatusPending
// (name), or its completion ("").
func (a *Adapter) pendingOp(name string) {
	w := &a.wd
	now := wallClock.Now()
	w.mu.Lock()
	w.pending, w.pendSince = name, now
	w.mu.Unlock()
}

// watchHandlers checks one adapter against the handler timeout d.
func (a *Adapter) watchHandlers(now time.Time, d time.Duration) {
	w := &a.wd
	w.mu.Lock()
	var stuck string
	giveUp := false // a pending operation to give up, not a call in progress
	switch {
	case w.call != "" && !w.reported && now.Sub(w.since) >= d:
		call := w.call
		if call == miniportOidRequest {
			call += "(" + w.oid.String() + ")"
		}
		stuck = fmt.Sprintf("%s has run for %s", call, now.Sub(w.since).Round(time.Millisecond))
		w.reported = true
	case w.pending != "" && now.Sub(w.pendSince) >= d:
		stuck = fmt.Sprintf("%s answered NDIS_STATUS_PENDING %s ago and never completed", w.pending, now.Sub(w.pendSince).Round(time.Millisecond))
		w.pending, giveUp = "", true
	}
	goid := w.goid
	w.mu.Unlock()
	if stuck != "" {
		a.violate(RuleHandlerTimeout, "%s; stack of the work goroutine:\n%s", stuck, goroutineStack(goid))
		a.failStuck(stuck, giveUp)
	}
	for _, b := range *a.rx.bindings.Load() {
		b.watch(now, d)
	}
}

// failStuck fails an adapter whose miniport is stuck: the gate shuts, a
// pause or restart it never completed is given up, and its protocols are
// unbound off the work goroutine, which may never come back.
func (a *Adapter) failStuck(why string, giveUp bool) {
	a.mu.Lock()
	a.failLocked("the watchdog: " + why)
	if op := a.op; giveUp && op != nil && (op.kind == opPause || op.kind == opRestart) && (a.pauseOutstanding || a.restartOutstanding) {
		// The completion will never come: end the operation, so that the
		// failure's removal can run. A late completion is reported.
		a.pauseOutstanding, a.restartOutstanding = false, false
		if a.state == AdapterRestarting {
			a.setStateLocked(AdapterPaused)
		}
		a.finishOpLocked(fmt.Errorf("%w: %q: %s", ErrAdapterHalted, a.name, why))
	}
	bs := append([]*Binding(nil), a.bindings...)
	a.mu.Unlock()
	a.enqueueFailure()
	a.kick()
	go func() {
		for _, b := range bs {
			b.unbind()
		}
	}()
}

// bindingWatch is what the watchdog knows of a binding's handlers.
type bindingWatch struct {
	seen     uint64    // calls completed at the last look
	since    time.Time // when handlers were first seen running with no call completing
	reported bool
}

// watch tears the binding down when one of its handlers has run longer
// than d: handlers are running and none has returned for that long.
// Called by the watchdog only, one tick at a time.
func (b *Binding) watch(now time.Time, d time.Duration) {
	w := &b.wd
	v := b.calls.Load()
	running, done := uint32(v), v>>32
	switch {
	case running == 0 || done != w.seen:
		w.seen, w.since, w.reported = done, now, false
		return
	case w.reported || now.Sub(w.since) < d:
		return
	}
	w.reported = true
	a := b.adapter
	a.violate(RuleHandlerTimeout, "a handler of protocol %q has run for at least %s; its binding is torn down; stack:\n%s",
		b.protoName, now.Sub(w.since).Round(time.Millisecond), protocolStack(b.protocol))
	b.tearDown()
	a.abandonStatus(b) // if it is stuck in a Status handler, the others are told on
	a.abandonOidCompletions(b)
}

// tearDown closes a binding whose protocol is stuck: it gets nothing more,
// its queued OIDs fail with StatusClosing and one it waits for at the
// miniport is answered StatusClosing now, so a handler blocked in
// OidRequest comes back.
func (b *Binding) tearDown() {
	b.unbound.Store(true)
	b.closeNow()
	a := b.adapter
	a.mu.Lock()
	if e := a.oidActive; e != nil && e.b == b && !e.completed && !e.abandoned {
		e.status, e.abandoned = StatusClosing, true
		a.wakeCallerLocked(e)
	}
	a.mu.Unlock()
}

// goroutineID returns the calling goroutine's id, from the first line of
// its stack ("goroutine 42 [running]:"). Called once per work goroutine.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseUint(string(b[:i]), 10, 64)
		return id
	}
	return 0
}

// allStacks returns every goroutine's stack.
func allStacks() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 8<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// goroutineStack returns the stack of the goroutine with the given id, or
// a note that it is gone.
func goroutineStack(id uint64) string {
	head := []byte("goroutine " + strconv.FormatUint(id, 10) + " [")
	for _, g := range bytes.Split(allStacks(), []byte("\n\n")) {
		if bytes.HasPrefix(g, head) {
			return string(g)
		}
	}
	return "(the goroutine has returned)"
}

// protocolStack returns the stacks of the goroutines running a method of
// the protocol's type under one of this package's frames: the stuck
// handler among them.
func protocolStack(p Protocol) string {
	// A method's frame reads pkg.(*Type).Method or pkg.Type.Method.
	t := reflect.TypeOf(p)
	var method string
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		method = t.PkgPath() + ".(*" + t.Name() + ")."
	} else {
		method = t.PkgPath() + "." + t.Name() + "."
	}
	var out [][]byte
	for _, g := range bytes.Split(allStacks(), []byte("\n\n")) {
		if bytes.Contains(g, []byte(method)) && bytes.Contains(g, []byte(pkgPrefix)) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return "(no goroutine is in the protocol's handlers any more)"
	}
	return string(bytes.Join(out, []byte("\n\n")))
}
