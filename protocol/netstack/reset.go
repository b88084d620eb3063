package netstack

import (
	"fmt"

	"github.com/gondis/gondis/ndis"
)

// phase is where a link's transmit path is:
//
//	running ──RESET_START──▶ holding ──RESET_END──▶ flushing ──held frames sent──▶ running
//	                            ▲                       │
//	                            └──────RESET_START──────┘
//	any ──the NIC is removed, or the binding unbound──▶ closed
//
// Running sends each batch at once; holding and flushing queue it behind
// the frames already held, so a reset reorders nothing. Every change goes
// through setPhaseLocked.
type phase uint32

const (
	phaseRunning  phase = iota // batches go to the binding as they come
	phaseHolding               // a reset is in progress: batches are held, up to the hold limit
	phaseFlushing              // RESET_END: the held frames are being sent, new ones queue behind them
	phaseClosed                // no frame goes out again
)

func (p phase) String() string {
	switch p {
	case phaseRunning:
		return "running"
	case phaseHolding:
		return "holding"
	case phaseFlushing:
		return "flushing"
	case phaseClosed:
		return "closed"
	}
	return fmt.Sprintf("phase(%d)", uint32(p))
}

// setPhaseLocked moves the transmit path to p; closed is final.
//
// +checklocks:l.mu
func (l *link) setPhaseLocked(p phase) {
	if l.phase == phaseClosed {
		return
	}
	l.phase = p
	l.snapshot.Store(uint32(p))
}

// maxFlushRounds bounds how long a RESET_END handler keeps sending what
// the stack writes while it flushes: past it, the path runs again with
// the frames still held sent in one last batch.
const maxFlushRounds = 64

// resetStart is RESET_START: from now on the link holds what it is given.
// It never disables the NIC: that would flush the neighbour cache and
// restart duplicate address detection for a reset that changes neither.
func (l *link) resetStart() {
	l.mu.Lock()
	l.setPhaseLocked(phaseHolding)
	l.mu.Unlock()
}

// resetEnd is RESET_END: the link sends what it held, in order, then runs
// again. Sends that completed with StatusResetInProgress or StatusPaused
// are not sent again: the stack's own retransmission recovers them.
func (l *link) resetEnd() {
	l.c.resets.Add(1)
	l.mu.Lock()
	if l.phase != phaseHolding {
		l.mu.Unlock()
		return
	}
	l.setPhaseLocked(phaseFlushing)
	l.mu.Unlock()
	for round := 0; ; round++ {
		l.mu.Lock()
		if l.phase != phaseFlushing { // another reset, or the end
			l.mu.Unlock()
			return
		}
		batch := l.held.Take()
		if batch == nil || round == maxFlushRounds {
			l.setPhaseLocked(phaseRunning)
		}
		l.mu.Unlock()
		if batch == nil {
			return
		}
		l.transmit(batch)
	}
}

// close ends the transmit path for good and drops what it holds.
func (l *link) close() {
	l.mu.Lock()
	l.setPhaseLocked(phaseClosed)
	held := l.held.Take()
	l.mu.Unlock()
	l.c.dropClosed.Add(uint64(held.Len()))
	l.pool.Put(held)
}

// linkState records a StatusLinkState indication.
func (l *link) linkState(payload []byte) {
	ls, s := ndis.ParseLinkState(payload)
	if s != ndis.StatusSuccess {
		return
	}
	up := ls.MediaConnectState != ndis.MediaConnectStateDisconnected
	if l.linkUp.Swap(up) != up {
		l.c.linkChanges.Add(1)
	}
}
