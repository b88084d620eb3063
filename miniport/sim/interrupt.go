package sim

import "github.com/gondis/gondis/ndis"

// The interrupt goroutine: the driver's ISR and DPC. It waits for the
// device's interrupt line, reads the cause register and services
// everything: fatal errors (it asks the runtime for a reset), link changes
// (it indicates them), the transmit ring (it reaps done descriptors,
// completes their NBLs in one batch and posts queued frames), the receive
// ring (it indicates filled buffers in one batch and posts fresh ones) and a
// pending pause. Every runtime call it makes is one the runtime documents
// as never blocking (indications, completions, ResetMiniport), and it makes
// none with a lock held, so Reset may wait for it to finish a pass.

func (m *miniport) interrupt() {
	defer close(m.done)
	for {
		select {
		case <-m.stop:
			return
		case <-m.d.irq:
		}
		m.service()
	}
}

// service is one pass of the interrupt handler.
func (m *miniport) service() {
	m.mu.Lock()
	if m.fenced {
		// A reset owns the rings; the interrupt causes wait for it.
		m.mu.Unlock()
		m.checkPause(false)
		return
	}
	m.busy = true
	m.mu.Unlock()

	causes := m.d.icr.Swap(0)
	if causes&irqFatal != 0 {
		m.a.ResetMiniport() // NdisMResetMiniport: the device needs a reset
	}
	if causes&irqLink != 0 {
		m.reportLink()
	}
	m.serviceTx()
	m.serviceRx()
	m.serviceBugOid()
	m.checkPause(true)

	m.mu.Lock()
	m.busy = false
	m.idle.Broadcast()
	m.mu.Unlock()
}

// reportLink indicates the link state when it differs from the last one
// indicated.
func (m *miniport) reportLink() {
	up := m.d.LinkUp()
	if up == m.linkUp {
		return
	}
	m.linkUp = up
	m.a.IndicateStatus(ndis.StatusLinkState, m.d.linkState(up).Marshal())
}

// serviceTx reaps the transmit descriptors the hardware is done with,
// posts queued frames into the room they leave, and completes the reaped
// NBLs in one call.
func (m *miniport) serviceTx() {
	d := m.d
	now := d.clock.Now()
	var done ndis.List
	m.mu.Lock()
	d.mu.Lock()
	size := uint64(len(d.tx))
	for ; d.txClean < d.txHead; d.txClean++ {
		desc := &d.tx[d.txClean%size]
		if x := desc.nbl; x != nil {
			x.Status = ndis.StatusSuccess
			done.Push(x)
		}
		*desc = txDesc{}
	}
	d.mu.Unlock()
	posted := m.postLocked(now)
	m.mu.Unlock()
	if posted > 0 {
		d.ring()
	}
	if done.Empty() {
		return
	}
	d.stats.txCompleted.Add(uint64(done.Len()))
	first := done.Take()
	m.a.SendNetBufferListsComplete(first)
	if m.takeBug(BugSendDoubleComplete) {
		m.a.SendNetBufferListsComplete(first) // the bug: an NBL that is no longer ours
	}
}

// serviceRx reaps the filled receive buffers, posts fresh ones, and
// indicates the received frames in one chain, or throws them away when the
// adapter is not running.
func (m *miniport) serviceRx() {
	d := m.d
	var filled ndis.List
	d.mu.Lock()
	size := uint64(len(d.rx))
	for ; d.rxClean < d.rxHead; d.rxClean++ {
		slot := &d.rx[d.rxClean%size]
		filled.Push(slot.nbl)
		slot.nbl = nil
	}
	m.rxShort.Store(m.refillRxLocked())
	d.mu.Unlock()
	if filled.Empty() {
		return
	}
	n := filled.Len()
	if !m.indicate.Load() {
		m.pool.Put(filled.Take())
		d.stats.rxDiscarded.Add(uint64(n))
		return
	}
	m.rxOutstanding.Add(int64(n))
	d.stats.rxIndicated.Add(uint64(n))
	m.a.IndicateReceiveNetBufferLists(filled.Take(), ndis.ReceiveFlagPerfectFiltered)
}

// serviceBugOid completes the request BugOidDoubleComplete took, twice.
func (m *miniport) serviceBugOid() {
	m.mu.Lock()
	r := m.bugOid
	m.bugOid = nil
	m.mu.Unlock()
	if r == nil {
		return
	}
	s := m.answer(r)
	m.a.OidRequestComplete(r, s)
	m.a.OidRequestComplete(r, s) // the bug
}

// checkPause completes a pending pause once no send is held and every
// indicated NBL is back. With abort (not while a reset owns the rings), a
// transmit ring that will not drain (the pause waited send_timeout, or the
// device is dead) is taken back first.
func (m *miniport) checkPause(abort bool) {
	d := m.d
	for {
		m.mu.Lock()
		if !m.pausePending {
			m.mu.Unlock()
			return
		}
		d.mu.Lock()
		held := d.txTail != d.txClean
		dead := d.fatal || d.failed
		d.mu.Unlock()
		held = held || m.swQueuedLocked() || m.inHand > 0 || m.leaked != nil
		if held && abort && (m.pauseAbort || dead) {
			m.mu.Unlock()
			m.abortTx()
			abort = false
			continue
		}
		if held || m.rxOutstanding.Load() != 0 {
			m.mu.Unlock()
			return
		}
		m.pausePending = false
		m.pausing.Store(false)
		if m.pauseTimer != nil {
			m.pauseTimer.Stop()
			m.pauseTimer = nil
		}
		m.mu.Unlock()
		m.a.PauseComplete()
		return
	}
}

// abortTx takes the transmit ring and the software queue back from a
// hardware that does not drain them and completes their NBLs: those the
// hardware finished with success, the others with StatusRequestAborted.
// Interrupt goroutine only, outside a reset.
func (m *miniport) abortTx() {
	d := m.d
	d.stopEngine()
	m.mu.Lock()
	chain, n := m.takeSendsLocked()
	m.mu.Unlock()
	d.mu.Lock()
	d.startEngineLocked()
	d.mu.Unlock()
	m.completeTaken(chain, n)
}

// takeSendsLocked takes every send the driver and the device hold, with the
// engine stopped: done descriptors' NBLs with StatusSuccess, the rest with
// StatusRequestAborted. It empties the transmit ring and the software
// queue and counts the NBLs in inHand until completeTaken. Called with m.mu
// held.
func (m *miniport) takeSendsLocked() (chain *ndis.NetBufferList, n int) {
	d := m.d
	var taken ndis.List
	d.mu.Lock()
	size := uint64(len(d.tx))
	for i := d.txClean; i < d.txTail; i++ {
		desc := &d.tx[i%size]
		if x := desc.nbl; x != nil {
			x.Status = ndis.StatusRequestAborted
			if i < d.txHead {
				x.Status = ndis.StatusSuccess
			}
			taken.Push(x)
		}
		*desc = txDesc{}
	}
	d.txClean, d.txHead = d.txTail, d.txTail
	d.mu.Unlock()
	for _, l := range [2]*ndis.NetBufferList{m.swNext, m.sw.Take()} {
		for x := l; x != nil; {
			next := x.Next
			x.Status = ndis.StatusRequestAborted
			taken.Push(x)
			x = next
		}
	}
	m.swNext, m.swFrame, m.swLen = nil, 0, 0
	n = taken.Len()
	m.inHand += n
	return taken.Take(), n
}

// completeTaken completes n NBLs taken from the device, whose Status is
// set, in one call, and lets a pending pause look again.
func (m *miniport) completeTaken(chain *ndis.NetBufferList, n int) {
	if chain == nil {
		return
	}
	var aborted uint64
	for x := chain; x != nil; x = x.Next {
		if x.Status == ndis.StatusRequestAborted {
			aborted++
		}
	}
	m.d.stats.txAborted.Add(aborted)
	m.d.stats.txCompleted.Add(uint64(n))
	m.a.SendNetBufferListsComplete(chain)
	m.mu.Lock()
	m.inHand -= n
	pending := m.pausePending
	m.mu.Unlock()
	if pending {
		m.d.raise(irqService)
	}
}
