package kit

import (
	"sync"

	"github.com/gondis/gondis/ndis"
)

// SendQueue is a miniport's pending sends: SendNetBufferLists pushes
// chains, one transmit goroutine serves them, and Reset takes what the
// goroutine has not taken yet and waits for what it is transmitting. One
// lock operation per chain, none per NBL. The zero SendQueue is empty and
// ready; it is safe for concurrent use.
type SendQueue struct {
	mu      sync.Mutex
	idle    *sync.Cond // on mu; broadcast when busy goes false
	pending ndis.List  // handed over, not yet taken
	busy    bool       // the transmit goroutine is transmitting a chain it took
}

// Push queues a chain and reports whether the transmit goroutine must be
// woken: it is idle and had nothing pending. A busy goroutine looks at the
// queue again before it goes idle, and a non-empty queue has had its
// wake-up already, so a chain pushed then needs none. The chain is walked
// once, outside the lock.
func (q *SendQueue) Push(l *ndis.NetBufferList) (wake bool) {
	if l == nil {
		return false
	}
	var c ndis.List
	c.PushChain(l)
	q.mu.Lock()
	wake = !q.busy && q.pending.Empty()
	q.pending.PushList(&c)
	q.mu.Unlock()
	return wake
}

// Serve is the transmit goroutine's loop over the queue: it takes
// everything pending, calls transmit with it outside the lock, and goes on
// until nothing is left; then the queue is idle again. transmit completes
// (or hands on) every NBL it is given.
func (q *SendQueue) Serve(transmit func(l *ndis.NetBufferList)) {
	q.mu.Lock()
	for {
		l := q.pending.Take()
		if l == nil {
			break
		}
		q.busy = true
		q.mu.Unlock()
		transmit(l)
		q.mu.Lock()
	}
	if q.busy {
		q.busy = false
		if q.idle != nil {
			q.idle.Broadcast()
		}
	}
	q.mu.Unlock()
}

// Flush takes every chain not yet taken by the transmit goroutine (a reset
// completes them with an abort status), then waits until the goroutine has
// finished the chain it is transmitting, if any. It must not be called
// from the transmit goroutine.
func (q *SendQueue) Flush() *ndis.NetBufferList {
	q.mu.Lock()
	l := q.pending.Take()
	q.waitIdleLocked()
	q.mu.Unlock()
	return l
}

// Take takes every chain not yet taken by the transmit goroutine, without
// waiting for it.
func (q *SendQueue) Take() *ndis.NetBufferList {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending.Take()
}

// WaitIdle waits until the transmit goroutine is not transmitting.
func (q *SendQueue) WaitIdle() {
	q.mu.Lock()
	q.waitIdleLocked()
	q.mu.Unlock()
}

func (q *SendQueue) waitIdleLocked() {
	if q.idle == nil {
		q.idle = sync.NewCond(&q.mu)
	}
	for q.busy {
		q.idle.Wait()
	}
}

// Drained reports whether nothing is pending and nothing is being
// transmitted: a pause may complete.
func (q *SendQueue) Drained() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending.Empty() && !q.busy
}

// Abort sets every NBL of the chain l to StatusRequestAborted, for a reset
// that completes the sends it took back, and returns how many frames they
// carry: what the miniport counts as transmit errors. The caller completes
// the chain.
func Abort(l *ndis.NetBufferList) (frames uint64) {
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusRequestAborted
		frames += uint64(len(x.Frames))
	}
	return frames
}
