package ndis

import "sync"

// Status indications reach protocols in the order they were made, through
// one FIFO per adapter that a runtime goroutine drains; a miniport's
// IndicateStatus only queues. So no protocol's Status handler ever runs on
// a miniport's goroutine: a handler that waits (a blocking OidRequest, say)
// holds up neither MiniportRestart, MiniportPause, MiniportOidRequest,
// MiniportResetEx nor the miniport's interrupt goroutine, and the work
// goroutine is free to serve the request it waits for. RESET_END goes the
// same way, after whatever the miniport indicated during its reset.
// RESET_START is delivered by the work goroutine itself, before Reset is
// called, when nothing is queued ahead of it (docs/RESET.md).

// statusItem is one indication waiting for delivery.
type statusItem struct {
	code    Status
	payload []byte
	// bound is the set of bindings to tell: those open when the miniport
	// indicated, or for RESET_START and RESET_END those of the reset (R12).
	// A binding closed meanwhile is skipped.
	bound []*Binding
	// after, if set, runs once the indication is delivered.
	after func()
}

// statusQueue is an adapter's FIFO of indications.
type statusQueue struct {
	mu       sync.Mutex
	q        []statusItem
	spare    []statusItem
	draining bool // a goroutine is delivering
}

// queueStatus queues an indication and makes sure a goroutine delivers it.
// It never blocks on a protocol.
func (a *Adapter) queueStatus(it statusItem) {
	s := &a.status
	s.mu.Lock()
	s.q = append(s.q, it)
	start := !s.draining
	s.draining = true
	s.mu.Unlock()
	if start {
		go a.drainStatus()
	}
}

// statusIdle reports whether nothing is queued or being delivered: an
// indication may then be delivered at once without passing one queued.
func (a *Adapter) statusIdle() bool {
	s := &a.status
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.draining
}

// drainStatus delivers queued indications, in order, until none is left.
func (a *Adapter) drainStatus() {
	s := &a.status
	for {
		s.mu.Lock()
		q := s.q
		if len(q) == 0 {
			s.draining = false
			s.mu.Unlock()
			return
		}
		s.q, s.spare = s.spare, nil
		s.mu.Unlock()
		for i := range q {
			a.deliverStatus(q[i].code, q[i].payload, q[i].bound)
			if q[i].after != nil {
				q[i].after()
			}
			q[i] = statusItem{}
		}
		s.mu.Lock()
		s.spare = q[:0]
		s.mu.Unlock()
	}
}

// deliverStatus calls the Status handler of every binding in bound that is
// still open.
func (a *Adapter) deliverStatus(code Status, payload []byte, bound []*Binding) {
	for _, b := range bound {
		if b.enter() {
			b.protocol.Status(code, payload)
			b.leave()
		}
	}
}
