package netstack

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gondis/gondis/ndis"
)

// WritePackets implements stack.LinkWriter. The NIC's fifo queueing
// discipline calls it from its goroutine with up to fifo.BatchSize packets;
// they are copied into NBLs of the link's pool, one frame each, and go to
// the binding as one chain: one SendNetBufferLists, so one entry through
// the adapter's datapath gate, per batch. It never blocks: a packet that
// finds no free NBL (the window is in flight) is dropped and counted, as a
// full transmit ring drops it, and the stack retransmits. Between
// RESET_START and RESET_END the chain is held instead (reset.go). The
// stack keeps the packets: nothing here takes a reference.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := pkts.Len()
	if phase(l.snapshot.Load()) == phaseClosed {
		l.c.dropClosed.Add(uint64(n))
		return 0, &tcpip.ErrClosedForSend{}
	}
	free, _ := l.pool.Get(n)
	var out ndis.List
	for _, pkt := range pkts.AsSlice() {
		if free == nil {
			l.c.dropNoBuffer.Add(1)
			continue
		}
		buf := free.Frames[0][:cap(free.Frames[0])]
		size := pkt.Size()
		if size > len(buf) {
			l.c.dropTooLong.Add(1)
			continue
		}
		copyPacket(buf, pkt)
		x := free
		free = free.Next
		x.Frames[0] = buf[:size]
		out.Push(x)
	}
	l.pool.Put(free)
	written := out.Len()
	if written == 0 {
		return 0, &tcpip.ErrNoBufferSpace{}
	}
	return l.submit(&out), nil
}

// copyPacket copies the whole of pkt into buf, which holds it, without
// allocating (AsSlices allocates a slice a packet).
func copyPacket(buf []byte, pkt *stack.PacketBuffer) {
	views, skip := pkt.AsViewList() // skip: the headroom before the headers
	n := 0
	for v := views.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		n += copy(buf[n:], b[skip:])
		skip = 0
	}
}

// submit sends a chain, or holds it while a reset is in progress. It
// returns how many NBLs it sent or held.
func (l *link) submit(out *ndis.List) int {
	if phase(l.snapshot.Load()) == phaseRunning {
		n := out.Len()
		l.transmit(out.Take())
		return n
	}
	l.mu.Lock()
	switch l.phase {
	case phaseRunning:
		l.mu.Unlock()
		n := out.Len()
		l.transmit(out.Take())
		return n
	case phaseClosed:
		l.mu.Unlock()
		l.c.dropClosed.Add(uint64(out.Len()))
		l.pool.Put(out.Take())
		return 0
	}
	// Holding or flushing: queue behind what is held, up to the limit.
	kept := 0
	for x := out.Take(); x != nil; {
		next := x.Next
		if l.held.Len() < l.hold {
			l.held.Push(x)
			kept++
		} else {
			x.Next = nil
			l.pool.Put(x)
			l.c.dropHoldFull.Add(1)
		}
		x = next
	}
	l.mu.Unlock()
	l.c.held.Add(uint64(kept))
	return kept
}

// transmit hands a chain to the binding: NdisSendNetBufferLists.
func (l *link) transmit(chain *ndis.NetBufferList) {
	if chain == nil {
		return
	}
	l.c.sent.Add(uint64(chain.Len()))
	l.b.SendNetBufferLists(chain)
}

// complete is the binding's send completion: the NBLs are counted by
// status and go back to the pool. None is sent again, whatever its status:
// a send completed with StatusResetInProgress or StatusPaused was lost the
// way a frame is lost on a wire, and the stack recovers it.
func (l *link) complete(chain *ndis.NetBufferList) {
	l.c.completed.Add(chain)
	l.pool.Put(chain)
}
