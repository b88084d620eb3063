package sim

import (
	"github.com/gondis/gondis/ndis"
)

// The reset (MiniportResetEx) and the hang check (MiniportCheckForHangEx).
// A reset really resets the device model: it keeps the interrupt handler off
// the rings and stops the transmit engine, takes back every send and OID the
// driver and the device hold and completes them (NDIS 6.30), clears the
// rings and the error state, and powers the engine up again: at once, or,
// for slow_reset, later from a timer that then calls ResetComplete.

// slowReset is a reset that answered StatusPending.
type slowReset struct {
	timer ndis.Timer
	done  chan struct{} // closed when the timer's function has run or will not
}

// cancel stops a slow reset's timer, or waits for its function to finish.
func (s *slowReset) cancel() {
	if s.timer.Stop() {
		close(s.done)
		return
	}
	<-s.done
}

// Reset is MiniportResetEx. It runs on the adapter's work goroutine with
// the datapath gate closed, so no send arrives meanwhile, and waits only
// for its own interrupt goroutine and engine, which never wait for the
// runtime. Every held send is completed with StatusRequestAborted (those
// the hardware had finished, with success), every held OID with
// StatusRequestAborted. The answer is (false, StatusSuccess), unless a
// fault says otherwise: lose_addressing clears the filter registers and
// answers addressingReset=true (on the first reset that succeeds
// afterwards); fail_reset answers StatusHardErrors and leaves the device
// dead; slow_reset answers StatusPending and completes later.
func (m *miniport) Reset() (addressingReset bool, s ndis.Status) {
	d := m.d
	d.stats.resets.Add(1)
	m.fence()
	d.stopEngine()

	_, lose := d.takeEvent(FaultLoseAddressing)
	slowFault, slow := d.takeEvent(FaultSlowReset)
	_, fail := d.takeEvent(FaultFailReset)

	m.mu.Lock()
	old, nOld := m.leaked, m.leaked.Len() // a previous reset's forgotten sends
	m.leaked = nil
	m.inHand += nOld
	chain, n := m.takeSendsLocked()
	if chain != nil && m.takeBug(BugResetPendingRequests) {
		m.leaked, m.inHand = chain, m.inHand-n // the bug: forget them
		chain, n = nil, 0
	}
	oids := m.oids
	m.oids = nil
	if m.bugOid != nil {
		oids = append(oids, m.bugOid)
		m.bugOid = nil
	}
	if lose {
		m.addrLost = true
	}
	m.mu.Unlock()

	m.resetHardware(lose)
	m.completeTaken(old, nOld)
	m.completeTaken(chain, n)
	for _, r := range oids {
		m.a.OidRequestComplete(r, ndis.StatusRequestAborted)
	}

	double := m.takeBug(BugResetCompleteWithoutPending)
	if slow {
		d.stats.resetsPended.Add(1)
		sr := &slowReset{done: make(chan struct{})}
		m.mu.Lock()
		m.slow = sr
		sr.timer = d.clock.AfterFunc(slowFault.duration(), func() { m.finishSlowReset(sr, fail, double) })
		m.mu.Unlock()
		return false, ndis.StatusPending
	}
	addressingReset, s = m.finishReset(fail)
	if double {
		m.a.ResetComplete(s, addressingReset) // the bug: a synchronous reset completed as if pending
	}
	return addressingReset, s
}

// fence keeps the interrupt handler off the rings: it waits for a pass in
// progress to end; later passes only look at a pending pause.
func (m *miniport) fence() {
	m.mu.Lock()
	m.fenced = true
	for m.busy {
		m.idle.Wait()
	}
	m.mu.Unlock()
}

// unfence gives the rings back to the interrupt handler and gives it a
// pass: the link may have changed and a pause may wait.
func (m *miniport) unfence() {
	m.mu.Lock()
	m.fenced = false
	m.mu.Unlock()
	m.d.raise(irqService | irqLink)
}

// resetHardware is the chip reset, with the engine stopped and the transmit
// ring already taken: it clears the error state and the receive ring (its
// buffers go back to the pool) and, when the device loses its addressing,
// the filter registers.
func (m *miniport) resetHardware(lose bool) {
	d := m.d
	now := d.clock.Now()
	var rx ndis.List
	d.mu.Lock()
	d.fatal, d.txHung = false, false
	d.hangGen++
	if d.hangTimer != nil {
		d.hangTimer.Stop()
		d.hangTimer = nil
	}
	size := uint64(len(d.rx))
	for i := d.rxClean; i < d.rxTail; i++ {
		slot := &d.rx[i%size]
		rx.Push(slot.nbl)
		slot.nbl = nil
	}
	d.rxClean, d.rxHead = d.rxTail, d.rxTail
	if lose {
		d.filter, d.lookahead = ndis.PacketFilter{}, 0
	}
	d.busyUntil = now
	d.mu.Unlock()
	d.icr.And(^(irqTx | irqRx | irqFatal))
	m.pool.Put(rx.Take())
	if lose {
		d.stats.addressingLost.Add(1)
	}
}

// finishReset brings the device back after the chip reset: with fail it
// stays dead (StatusHardErrors); otherwise the receive ring is filled, the
// engine powered up and the rings handed back to the interrupt handler.
// addressingReset is true when the filter registers were lost since the
// last successful reset.
func (m *miniport) finishReset(fail bool) (addressingReset bool, s ndis.Status) {
	d := m.d
	if fail {
		d.stats.resetsFailed.Add(1)
		d.mu.Lock()
		d.failed = true
		d.mu.Unlock()
		m.unfence()
		return false, ndis.StatusHardErrors
	}
	d.mu.Lock()
	d.failed = false
	m.rxShort.Store(m.refillRxLocked())
	d.startEngineLocked()
	d.mu.Unlock()
	m.mu.Lock()
	addressingReset, m.addrLost = m.addrLost, false
	if addressingReset {
		m.restoreWindow = true
	}
	m.mu.Unlock()
	m.unfence()
	return addressingReset, ndis.StatusSuccess
}

// finishSlowReset ends a pending reset from its timer.
func (m *miniport) finishSlowReset(sr *slowReset, fail, double bool) {
	defer close(sr.done)
	m.mu.Lock()
	if m.halted || m.slow != sr {
		m.mu.Unlock()
		return
	}
	m.slow = nil
	m.mu.Unlock()
	addressingReset, s := m.finishReset(fail)
	m.a.ResetComplete(s, addressingReset)
	if double {
		m.a.ResetComplete(s, addressingReset) // the bug
	}
}

// CheckForHang is MiniportCheckForHangEx, as NDIS 6.30 asks of a driver
// that watches its own sends: true when the descriptor at the head of the
// transmit ring has waited for the hardware longer than send_timeout (a
// full ring whose hardware makes progress is not hung), when the device is
// dead after a failed reset, or when a fatal error has outlived
// send_timeout (the driver's own reset request was lost). It also
// completes sends a bugged reset forgot.
func (m *miniport) CheckForHang() bool {
	d := m.d
	now := d.clock.Now()
	m.mu.Lock()
	m.restoreWindow = false
	leaked, n := m.leaked, m.leaked.Len()
	m.leaked = nil
	m.inHand += n
	m.mu.Unlock()
	m.completeTaken(leaked, n)
	d.mu.Lock()
	hung := d.hungLocked(now)
	d.mu.Unlock()
	d.stats.hangChecks.Add(1)
	if hung {
		d.stats.hangsDetected.Add(1)
	}
	return hung
}
