package ndis

import "sync"

// Status indications reach protocols in the order they were made, through
// one FIFO per adapter that a runtime goroutine drains; a miniport's
// IndicateStatus only queues. So no protocol's Status handler ever runs on
// a miniport's goroutine: a handler that waits (a blocking OidRequest, say)
// holds up neither MiniportRestart, MiniportPause, MiniportOidRequest,
// MiniportResetEx nor the miniport's interrupt goroutine, and the work
// goroutine is free to serve the request it waits for. RESET_START and
// RESET_END are delivered by the work goroutine itself when nothing is
// queued ahead of them, and go through the FIFO behind what is queued
// otherwise (docs/RESET.md).

// statusItem is one indication waiting for delivery.
type statusItem struct {
	code    Status
	payload []byte
	// bound is the set of bindings to tell: those open when the miniport
	// indicated, or for RESET_START and RESET_END those of the reset (R12).
	// A binding closed meanwhile is skipped.
	bound []*Binding
	// endOfReset: once delivered, the reset is over for R12
	// (resetEndDelivered runs).
	endOfReset bool
}

// statusQueue is an adapter's FIFO of indications. One goroutine at a
// time delivers (draining): the drain goroutine, or the work goroutine
// delivering RESET_START or RESET_END inline after claiming the queue.
type statusQueue struct {
	mu       sync.Mutex
	q        []statusItem
	draining bool   // a goroutine is delivering
	gen      uint64 // bumped when a stuck delivery is abandoned
	// The item being delivered (when delivering) and the index of the
	// binding being told, so that an abandoned delivery can be taken over.
	cur        statusItem
	delivering bool
	curIdx     int
}

// queueStatus queues an indication and makes sure a goroutine delivers it.
// It never blocks on a protocol.
func (a *Adapter) queueStatus(it statusItem) {
	s := &a.status
	s.mu.Lock()
	s.q = append(s.q, it)
	start := !s.draining
	s.draining = true
	gen := s.gen
	s.mu.Unlock()
	if start {
		go a.drainStatus(gen)
	}
}

// claimStatus claims the queue for an inline delivery when nothing is
// queued or being delivered; releaseStatus hands it back, starting a drain
// goroutine for what was queued meanwhile.
func (a *Adapter) claimStatus() (uint64, bool) {
	s := &a.status
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return 0, false
	}
	s.draining = true
	return s.gen, true
}

func (a *Adapter) releaseStatus(gen uint64) {
	s := &a.status
	s.mu.Lock()
	if s.gen != gen {
		s.mu.Unlock()
		return // abandoned meanwhile: another goroutine owns the queue
	}
	start := len(s.q) > 0
	s.draining = start
	s.mu.Unlock()
	if start {
		go a.drainStatus(gen)
	}
}

// deliverInline delivers one item on the calling goroutine if it can claim
// the queue, and reports whether it did; otherwise the caller queues it.
func (a *Adapter) deliverInline(it statusItem) bool {
	gen, ok := a.claimStatus()
	if !ok {
		return false
	}
	a.handlerOnWork.Store(true)
	delivered := a.deliverItem(it, gen)
	a.handlerOnWork.Store(false)
	if delivered && it.endOfReset {
		a.resetEndDelivered()
	}
	a.releaseStatus(gen)
	return true
}

// drainStatus delivers queued indications, in order, until none is left,
// or until its delivery is abandoned (see abandonStatus).
func (a *Adapter) drainStatus(gen uint64) {
	s := &a.status
	for {
		s.mu.Lock()
		if s.gen != gen {
			s.mu.Unlock()
			return
		}
		if len(s.q) == 0 {
			s.draining = false
			s.mu.Unlock()
			return
		}
		it := s.q[0]
		s.q[0] = statusItem{}
		s.q = s.q[1:]
		s.mu.Unlock()
		if !a.deliverItem(it, gen) {
			return // abandoned: the item's rest went to the new owner
		}
		if it.endOfReset {
			a.resetEndDelivered()
		}
	}
}

// deliverItem calls the Status handler of every binding of the item that
// is still open, and reports whether the delivery was not abandoned.
func (a *Adapter) deliverItem(it statusItem, gen uint64) bool {
	s := &a.status
	s.mu.Lock()
	s.cur, s.delivering = it, true
	s.mu.Unlock()
	for i, b := range it.bound {
		s.mu.Lock()
		if s.gen != gen {
			s.mu.Unlock()
			return false
		}
		s.curIdx = i
		s.mu.Unlock()
		if b.enter() {
			b.protocol.Status(it.code, it.payload)
			b.leave()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return false
	}
	s.cur, s.delivering = statusItem{}, false
	return true
}

// abandonStatus gives up on a delivery stuck in binding b's Status handler
// (the watchdog has torn b down): a new goroutine delivers the rest of the
// item to the bindings after b, ends the reset if it was RESET_END, and
// drains the queue. The stuck goroutine, if it ever returns, delivers
// nothing more.
func (a *Adapter) abandonStatus(b *Binding) {
	s := &a.status
	s.mu.Lock()
	it := s.cur
	if !s.delivering || it.bound[s.curIdx] != b {
		s.mu.Unlock()
		return
	}
	s.gen++
	rest := statusItem{code: it.code, payload: it.payload, bound: it.bound[s.curIdx+1:], endOfReset: it.endOfReset}
	s.q = append([]statusItem{rest}, s.q...)
	s.cur, s.delivering = statusItem{}, false
	s.draining = true
	gen := s.gen
	s.mu.Unlock()
	go a.drainStatus(gen)
}
