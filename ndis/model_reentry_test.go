package ndis_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// Calls back into the runtime from inside protocol handlers, for the model
// test: a handler closes its own binding, makes an OID request (pending,
// pending and cancelled at once, or blocking within a short or a long
// context) or sends, from inside RESET_START, RESET_END, a link-state
// indication, a receive or a send completion. The model arms one such call
// per binding; the handler makes it once, the first time it runs for its
// trigger, and the model checks what the call saw against what the runtime
// was doing when the handler ran (a scene).

// trigger is the protocol handler a call is made from.
type trigger uint8

const (
	onResetStart trigger = iota
	onResetEnd
	onLinkState
	onReceive
	onComplete
	onOther // any other status indication: no call is armed for it
)

var triggerNames = [...]string{"RESET_START", "RESET_END", "link state", "receive", "send completion", "other status"}

func (w trigger) String() string { return triggerNames[w] }

var triggers = []trigger{onResetStart, onResetEnd, onLinkState, onReceive, onComplete}

func statusTrigger(code ndis.Status) trigger {
	switch code {
	case ndis.StatusResetStart:
		return onResetStart
	case ndis.StatusResetEnd:
		return onResetEnd
	case ndis.StatusLinkState:
		return onLinkState
	}
	return onOther
}

// callKind is what a handler calls.
type callKind uint8

const (
	callClose     callKind = iota // Close of the binding itself
	callOid                       // OidRequest, blocking within reentry.wait
	callOidAsync                  // OidRequestAsync
	callOidCancel                 // OidRequestAsync, then CancelOidRequest at once
	callSend                      // SendNetBufferLists
)

var callNames = [...]string{"Close", "OidRequest", "OidRequestAsync", "OidRequestAsync+CancelOidRequest", "SendNetBufferLists"}

func (c callKind) String() string { return callNames[c] }

var callKinds = []callKind{callClose, callOid, callOidAsync, callOidCancel, callSend}

// reentryOID is the plain set the handlers' requests make; the fake takes
// it.
const reentryOID ndis.OID = 0xFF000003

// reentry is one call a handler makes back into the runtime, and what it
// saw.
type reentry struct {
	on   trigger
	call callKind
	wait time.Duration // callOid: its context's time-out
	nbls int           // callSend: NBLs in the chain

	done chan struct{} // closed once the call has returned, inside the handler

	// Written before done is closed.
	status     ndis.Status // OidRequest's status, or OidRequestAsync's answer
	closeErr   error
	doneInside bool // the binding's Done was closed while its handler ran
	sent       []*ndis.NetBufferList
	async      *asyncOid
}

func newReentry(on trigger, call callKind) *reentry {
	return &reentry{on: on, call: call, done: make(chan struct{})}
}

func (r *reentry) String() string {
	s := r.call.String()
	switch r.call {
	case callOid:
		s += fmt.Sprintf(" (within %s)", r.wait)
	case callSend:
		s += fmt.Sprintf(" (%d NBLs)", r.nbls)
	}
	return s + " from the " + r.on.String() + " handler"
}

// fired reports whether the handler has made the call.
func (r *reentry) fired() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// run makes the call from inside a handler of b.
func (r *reentry) run(b *ndis.Binding) {
	defer close(r.done)
	req := &ndis.OidRequest{Type: ndis.RequestSet, OID: reentryOID, Buffer: ndis.Ulong(3)}
	switch r.call {
	case callClose:
		ctx, cancel := context.WithTimeout(context.Background(), ndistest.WaitTimeout)
		r.closeErr = b.Close(ctx)
		cancel()
		select {
		case <-b.Done():
			r.doneInside = true
		default:
		}
	case callOid:
		ctx, cancel := context.WithTimeout(context.Background(), r.wait)
		r.status = b.OidRequest(ctx, req)
		cancel()
	case callOidAsync, callOidCancel:
		x := &asyncOid{req: req, what: r.String()}
		r.async = x
		r.status = b.OidRequestAsync(req, x.complete)
		if r.status == ndis.StatusPending && r.call == callOidCancel {
			x.cancelled = b.CancelOidRequest(req)
		}
	case callSend:
		for range r.nbls {
			r.sent = append(r.sent, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "re-entry")))
		}
		b.SendNetBufferLists(ndis.Chain(r.sent...))
	}
}

// asyncOid is a request made with OidRequestAsync from a handler, and its
// completions.
type asyncOid struct {
	req       *ndis.OidRequest
	what      string
	cancelled bool          // CancelOidRequest said it cancelled the request
	final     bool          // OidRequestAsync answered a final status: no completion may run
	allowed   []ndis.Status // what the completion may carry

	mu     sync.Mutex
	calls  int
	status ndis.Status
	other  bool // a completion came with another request than this one
}

func (x *asyncOid) complete(r *ndis.OidRequest, s ndis.Status) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.calls++
	x.status = s
	x.other = x.other || r != x.req
}

// check reports what is wrong with the completions so far.
func (x *asyncOid) check() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.other:
		return fmt.Errorf("%s: completed with another request", x.what)
	case x.final && x.calls != 0:
		return fmt.Errorf("%s: answered a final status, then completed %d times", x.what, x.calls)
	case x.calls > 1:
		return fmt.Errorf("%s: completed %d times", x.what, x.calls)
	case x.calls == 1 && !slices.Contains(x.allowed, x.status):
		return fmt.Errorf("%s: completed with %s, want one of %v (cancelled %v)", x.what, x.status, x.allowed, x.cancelled)
	}
	return nil
}

// completed reports whether the completion has run, or never will.
func (x *asyncOid) completed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.final || x.calls > 0
}

// hookSlot is a binding's armed call: the recorder's hooks make it the
// first time its trigger's handler runs. It counts the handlers that have
// run to their end, hook included: a handler the model saw record its
// indication may not have reached its hook yet, and must not make a call
// armed after it.
type hookSlot struct {
	b     *ndis.Binding
	mu    sync.Mutex
	armed *reentry
	ran   [onOther + 1]int
}

func (h *hookSlot) arm(r *reentry) {
	h.mu.Lock()
	h.armed = r
	h.mu.Unlock()
}

func (h *hookSlot) fire(on trigger) {
	h.mu.Lock()
	r := h.armed
	if r != nil && r.on == on {
		h.armed = nil
		h.mu.Unlock()
		r.run(h.b)
		h.mu.Lock()
	}
	h.ran[on]++
	h.mu.Unlock()
}

// hasRun reports whether n handlers for on have run to their end.
func (h *hookSlot) hasRun(on trigger, n int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ran[on] >= n
}

// install hooks a new recorder's handlers to a slot of its own.
func (h *hookSlot) install(r *ndistest.Recorder) {
	r.OnStatus = func(code ndis.Status, _ []byte) { h.fire(statusTrigger(code)) }
	r.OnReceive = func(*ndis.NetBufferList, ndis.ReceiveFlags) { h.fire(onReceive) }
	r.OnComplete = func(*ndis.NetBufferList) { h.fire(onComplete) }
}

// scene is what the runtime is doing when a handler runs, as the model
// knows it: what a call from the handler may see.
type scene struct {
	name   string
	send   []ndis.Status // what a sent NBL completes with
	oid    []ndis.Status // how a request ends: a blocking one, or a pending one's completion
	closed bool          // the binding is closed already
}

func (s scene) String() string { return s.name }

var (
	sceneRunning   = scene{name: "running", send: statuses(ndis.StatusSuccess), oid: statuses(ndis.StatusSuccess)}
	scenePaused    = scene{name: "paused", send: statuses(ndis.StatusPaused), oid: statuses(ndis.StatusSuccess)}
	sceneResetting = scene{name: "resetting", send: statuses(ndis.StatusResetInProgress), oid: statuses(ndis.StatusResetInProgress)}
	sceneClosed    = scene{name: "closed", send: statuses(ndis.StatusClosing), oid: statuses(ndis.StatusClosing), closed: true}
	// RESET_END of the reset that failed the adapter: its gate is shut and
	// its removal queued.
	sceneFailed = scene{name: "failed", send: statuses(ndis.StatusPaused), oid: statuses(ndis.StatusClosing)}
	// RESET_END of a reset a removal waits for: the removal may have
	// paused the adapter, and may have begun to halt it, or not yet.
	sceneHalting = scene{name: "halting", send: statuses(ndis.StatusSuccess, ndis.StatusPaused),
		oid: statuses(ndis.StatusSuccess, ndis.StatusClosing)}
	// A send completion inside MiniportSendNetBufferLists that asked for a
	// reset first: the reset waits for the sender to leave, its gate may be
	// closed to new requests already or not yet.
	sceneSendReset = scene{name: "reset asked in the send", send: statuses(ndis.StatusSuccess, ndis.StatusResetInProgress),
		oid: statuses(ndis.StatusResetInProgress)}
	// A status indicated from inside MiniportPause reaches the protocol
	// while the adapter pauses or once it has.
	scenePausing = scene{name: "pausing", send: statuses(ndis.StatusPaused), oid: statuses(ndis.StatusSuccess)}
	// One indicated from inside MiniportRestart, while it restarts or once
	// it runs.
	sceneRestarting = scene{name: "restarting", send: statuses(ndis.StatusPaused, ndis.StatusSuccess),
		oid: statuses(ndis.StatusSuccess)}
)

func statuses(s ...ndis.Status) []ndis.Status { return s }

// linkFrom is the miniport handler a link state is indicated from.
type linkFrom uint32

const (
	linkNowhere linkFrom = iota
	linkFromPause
	linkFromRestart
	linkFromReset
	linkFromOid
)

var linkFromNames = [...]string{"no", "MiniportPause", "MiniportRestart", "MiniportResetEx", "MiniportOidRequest"}

func (h linkFrom) String() string { return linkFromNames[h] }

// modelMiniport is the fake, indicating a link state from inside one of
// its handlers when the model arms it: the indication reaches the
// protocols from a runtime goroutine, so their handlers may call back into
// the runtime whatever the miniport's handler is doing.
type modelMiniport struct {
	*ndistest.Fake
	a     *ndis.Adapter
	from  *atomic.Uint32 // a linkFrom, consumed by the first matching handler
	flips *atomic.Uint32 // link states indicated so far
}

var (
	_ ndis.Miniport    = (*modelMiniport)(nil)
	_ ndis.Resetter    = (*modelMiniport)(nil)
	_ ndis.HangChecker = (*modelMiniport)(nil)
	_ ndis.Shutdowner  = (*modelMiniport)(nil)
)

// indicateFrom indicates a link state when the model armed handler h.
func (m *modelMiniport) indicateFrom(h linkFrom) {
	if m.from.CompareAndSwap(uint32(h), uint32(linkNowhere)) {
		indicateLink(m.a, m.flips)
	}
}

// indicateLink indicates a link state, connected and disconnected in turn.
func indicateLink(a *ndis.Adapter, flips *atomic.Uint32) {
	st := ndis.MediaConnectStateConnected
	if flips.Add(1)%2 == 0 {
		st = ndis.MediaConnectStateDisconnected
	}
	a.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: st, XmitLinkSpeed: 1e9, RcvLinkSpeed: 1e9}.Marshal())
}

func (m *modelMiniport) Pause() ndis.Status {
	m.indicateFrom(linkFromPause)
	return m.Fake.Pause()
}

func (m *modelMiniport) Restart() ndis.Status {
	m.indicateFrom(linkFromRestart)
	return m.Fake.Restart()
}

func (m *modelMiniport) Reset() (bool, ndis.Status) {
	m.indicateFrom(linkFromReset)
	return m.Fake.Reset()
}

func (m *modelMiniport) OidRequest(r *ndis.OidRequest) ndis.Status {
	m.indicateFrom(linkFromOid)
	return m.Fake.OidRequest(r)
}
