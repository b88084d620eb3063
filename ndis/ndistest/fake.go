package ndistest

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
)

// Fake is a scriptable miniport for one adapter. By default it completes
// sends inline with success, pauses, restarts and resets synchronously,
// accepts every set and answers queries it was told about; each behaviour
// can be changed before or during a test. Every call is recorded.
//
// The fields are read at each call, under the fake's lock: set them before
// the adapter exists or with Do.
type Fake struct {
	// Attributes, if set, are given to SetMiniportAttributes in Initialize.
	Registration *ndis.RegistrationAttributes
	General      *ndis.GeneralAttributes
	// InitError makes Initialize fail.
	InitError error
	// OnInitialize, if set, runs inside Initialize once the attributes are
	// set.
	OnInitialize func(a *ndis.Adapter)

	// PauseStatus, RestartStatus: what Pause and Restart return. With
	// StatusPending the test completes them through the adapter.
	PauseStatus   ndis.Status
	RestartStatus ndis.Status
	// HoldSends keeps sent NBLs until CompleteHeld.
	HoldSends bool
	// OnSend, if set, is called inside SendNetBufferLists before the fake
	// handles the chain.
	OnSend func(l *ndis.NetBufferList)
	// PendOIDs answers every OID request StatusPending; CompleteOID finishes
	// them.
	PendOIDs bool
	// Queries answers query OIDs with fixed bytes.
	Queries map[ndis.OID][]byte
	// OnOid, if set, answers OID requests instead of the rules above.
	OnOid func(r *ndis.OidRequest) ndis.Status
	// OnReset, if set, answers Reset; by default Reset completes every held
	// send and OID with StatusRequestAborted and returns (ResetAddressing,
	// StatusSuccess).
	OnReset         func() (bool, ndis.Status)
	ResetAddressing bool
	// PendResets, unless OnReset is set, answers every Reset StatusPending
	// and does nothing else: the test completes the reset through the
	// adapter (ResetComplete).
	PendResets bool
	// Delays: a positive delay makes the fake answer StatusPending and
	// complete the operation that long later on Clock (a FakeClock, in a
	// deterministic test; the wall clock when nil), as a device that takes
	// its time does. A delayed OID is answered by the rules above when it
	// completes; a delayed reset does what the default Reset does.
	Clock        ndis.Clock
	PauseDelay   time.Duration
	RestartDelay time.Duration
	OidDelay     time.Duration
	ResetDelay   time.Duration

	// Hung is what CheckForHang returns.
	Hung atomic.Bool
	// OnHang, if set, is called inside CheckForHang.
	OnHang func()

	// Adapter is the adapter the fake was initialized for.
	Adapter *ndis.Adapter

	completeMu sync.Mutex // serialises CompleteHeld, so Reset waits for an interrupt in progress
	mu         sync.Mutex
	calls      []string
	held       ndis.List
	oids       []*ndis.OidRequest // pending at the fake
	sets       []ndis.OidRequest  // every set, in order, with a copy of its buffer
	resets     int
	inReset    bool
	duringRs   int // sends that arrived while Reset ran
	halted     bool
	returned   map[*ndis.NetBufferList]int
	lent       map[*ndis.NetBufferList]bool
}

// NewFake returns a fake with the default behaviour.
func NewFake() *Fake {
	return &Fake{returned: make(map[*ndis.NetBufferList]int), lent: make(map[*ndis.NetBufferList]bool)}
}

// Driver returns a miniport driver whose adapters are this fake, with
// every optional handler (MiniportResetEx, MiniportCheckForHangEx,
// MiniportShutdownEx).
func (f *Fake) Driver(name string, v ndis.Version) ndis.MiniportDriver {
	return f.driver(name, v, true)
}

// DriverWithoutReset is Driver for a miniport with no reset or hang handler.
func (f *Fake) DriverWithoutReset(name string, v ndis.Version) ndis.MiniportDriver {
	return f.driver(name, v, false)
}

// plain hides the optional handlers of a Fake.
type plain struct{ ndis.Miniport }

func (f *Fake) driver(name string, v ndis.Version, withReset bool) ndis.MiniportDriver {
	return ndis.MiniportDriver{Name: name, Version: v, Initialize: func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		f.record("Initialize")
		f.mu.Lock()
		f.Adapter = a
		reg, gen, err := f.Registration, f.General, f.InitError
		f.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if reg != nil {
			if err := a.SetMiniportAttributes(reg); err != nil {
				return nil, err
			}
		}
		if gen != nil {
			if err := a.SetMiniportAttributes(gen); err != nil {
				return nil, err
			}
		}
		f.mu.Lock()
		hook := f.OnInitialize
		f.mu.Unlock()
		if hook != nil {
			hook(a)
		}
		if withReset {
			return f, nil
		}
		return plain{f}, nil
	}}
}

// Do runs fn with the fake's lock held, to change its behaviour safely.
func (f *Fake) Do(fn func(f *Fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *Fake) record(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

// Calls returns the names of the handler calls so far, in order (sends and
// returns excepted).
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Halt implements ndis.Miniport.
func (f *Fake) Halt(action ndis.HaltAction) {
	f.record("Halt:" + action.String())
	f.mu.Lock()
	f.halted = true
	f.mu.Unlock()
}

// Pause implements ndis.Miniport.
func (f *Fake) Pause() ndis.Status {
	f.record("Pause")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.PauseDelay > 0 {
		f.later(f.PauseDelay, f.Adapter.PauseComplete)
		return ndis.StatusPending
	}
	return f.PauseStatus
}

// Restart implements ndis.Miniport.
func (f *Fake) Restart() ndis.Status {
	f.record("Restart")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.RestartDelay > 0 {
		s := f.RestartStatus
		if s == ndis.StatusPending {
			s = ndis.StatusSuccess
		}
		f.later(f.RestartDelay, func() { f.Adapter.RestartComplete(s) })
		return ndis.StatusPending
	}
	return f.RestartStatus
}

// later runs fn after d on the fake's clock. Called with f.mu held.
func (f *Fake) later(d time.Duration, fn func()) {
	c := f.Clock
	if c == nil {
		c = ndis.RealClock()
	}
	c.AfterFunc(d, fn)
}

// SendNetBufferLists implements ndis.Miniport.
func (f *Fake) SendNetBufferLists(l *ndis.NetBufferList) {
	f.mu.Lock()
	if f.inReset {
		f.duringRs++
	}
	hook, hold := f.OnSend, f.HoldSends
	f.mu.Unlock()
	if hook != nil {
		hook(l)
	}
	if hold {
		f.mu.Lock()
		f.held.PushChain(l)
		f.mu.Unlock()
		return
	}
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusSuccess
	}
	f.Adapter.SendNetBufferListsComplete(l)
}

// Held returns how many sent NBLs the fake holds.
func (f *Fake) Held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held.Len()
}

// CompleteHeld completes every held send with s, in one chain. Calls are
// serialised: one that finds nothing held returns only after a concurrent
// one has handed its chain back, as a driver's reset waits for its
// interrupt handler.
func (f *Fake) CompleteHeld(s ndis.Status) int {
	f.completeMu.Lock()
	defer f.completeMu.Unlock()
	f.mu.Lock()
	n, l := f.held.Len(), f.held.Take()
	f.mu.Unlock()
	for x := l; x != nil; x = x.Next {
		x.Status = s
	}
	if l != nil {
		f.Adapter.SendNetBufferListsComplete(l)
	}
	return n
}

// SendsDuringReset returns how many send calls reached the fake while its
// Reset was running.
func (f *Fake) SendsDuringReset() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.duringRs
}

// Indicate indicates a receive of one NBL per frame, in one chain, and
// returns the chain.
func (f *Fake) Indicate(flags ndis.ReceiveFlags, frames ...[]byte) *ndis.NetBufferList {
	ls := make([]*ndis.NetBufferList, len(frames))
	for i, fr := range frames {
		ls[i] = ndis.NewNetBufferList(fr)
	}
	l := ndis.Chain(ls...)
	if flags&ndis.ReceiveFlagResources != 0 {
		f.mu.Lock()
		for _, x := range ls {
			f.lent[x] = true
		}
		f.mu.Unlock()
	}
	f.Adapter.IndicateReceiveNetBufferLists(l, flags)
	return l
}

// ReturnNetBufferLists implements ndis.Miniport.
func (f *Fake) ReturnNetBufferLists(l *ndis.NetBufferList) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for x := l; x != nil; x = x.Next {
		f.returned[x]++
	}
}

// Returned returns how many times the NBL came back to the fake.
func (f *Fake) Returned(x *ndis.NetBufferList) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returned[x]
}

// ReturnedTotal returns how many NBLs came back, counting repeats.
func (f *Fake) ReturnedTotal() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.returned {
		n += c
	}
	return n
}

// OidRequest implements ndis.Miniport.
func (f *Fake) OidRequest(r *ndis.OidRequest) ndis.Status {
	f.record("OidRequest:" + r.OID.String())
	f.mu.Lock()
	if r.Type == ndis.RequestSet {
		f.sets = append(f.sets, ndis.OidRequest{Type: r.Type, OID: r.OID, Buffer: slices.Clone(r.Buffer)})
	}
	hook, pend, q := f.OnOid, f.PendOIDs, f.Queries[r.OID]
	if pend && hook == nil {
		f.oids = append(f.oids, r)
		f.mu.Unlock()
		return ndis.StatusPending
	}
	if d := f.OidDelay; d > 0 {
		f.later(d, func() { f.Adapter.OidRequestComplete(r, f.answer(r, hook, q)) })
		f.mu.Unlock()
		return ndis.StatusPending
	}
	f.mu.Unlock()
	return f.answer(r, hook, q)
}

// answer answers an OID request by the fake's rules.
func (f *Fake) answer(r *ndis.OidRequest, hook func(*ndis.OidRequest) ndis.Status, q []byte) ndis.Status {
	switch {
	case hook != nil:
		return hook(r)
	case r.Type == ndis.RequestSet:
		r.BytesWritten = len(r.Buffer)
		return ndis.StatusSuccess
	case q != nil:
		return r.PutBytes(q)
	}
	return ndis.StatusInvalidOid
}

// PendingOIDs returns how many OID requests the fake holds.
func (f *Fake) PendingOIDs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.oids)
}

// CompleteOID completes the oldest held OID request with s.
func (f *Fake) CompleteOID(s ndis.Status) bool {
	f.mu.Lock()
	if len(f.oids) == 0 {
		f.mu.Unlock()
		return false
	}
	r := f.oids[0]
	f.oids = f.oids[1:]
	f.mu.Unlock()
	if s == ndis.StatusSuccess && r.Type == ndis.RequestSet {
		r.BytesWritten = len(r.Buffer)
	}
	f.Adapter.OidRequestComplete(r, s)
	return true
}

// Sets returns every set request the fake received, in order.
func (f *Fake) Sets() []ndis.OidRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ndis.OidRequest(nil), f.sets...)
}

// Reset implements ndis.Resetter.
func (f *Fake) Reset() (bool, ndis.Status) {
	f.mu.Lock()
	f.calls = append(f.calls, "Reset")
	f.resets++
	f.inReset = true
	hook, addr, pend := f.OnReset, f.ResetAddressing, f.PendResets
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inReset = false
		f.mu.Unlock()
	}()
	switch {
	case hook != nil:
		return hook()
	case pend:
		return false, ndis.StatusPending
	}
	f.mu.Lock()
	d := f.ResetDelay
	if d > 0 {
		f.later(d, func() {
			f.CompleteHeld(ndis.StatusRequestAborted)
			for f.CompleteOID(ndis.StatusRequestAborted) {
			}
			f.Adapter.ResetComplete(ndis.StatusSuccess, addr)
		})
	}
	f.mu.Unlock()
	if d > 0 {
		return false, ndis.StatusPending
	}
	f.CompleteHeld(ndis.StatusRequestAborted)
	for f.CompleteOID(ndis.StatusRequestAborted) {
	}
	return addr, ndis.StatusSuccess
}

// Resets returns how many times Reset was called.
func (f *Fake) Resets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resets
}

// CheckForHang implements ndis.HangChecker.
func (f *Fake) CheckForHang() bool {
	f.record("CheckForHang")
	f.mu.Lock()
	hook := f.OnHang
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return f.Hung.Load()
}

// Shutdown implements ndis.Shutdowner.
func (f *Fake) Shutdown(action ndis.ShutdownAction) { f.record("Shutdown") }

// IsHalted reports whether Halt was called.
func (f *Fake) IsHalted() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.halted
}
