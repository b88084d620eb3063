package kit

import (
	"iter"
	"sync/atomic"

	"github.com/gondis/gondis/ndis"
)

// Frames yields every frame of every NBL of a chain, in order.
func Frames(l *ndis.NetBufferList) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for x := l; x != nil; x = x.Next {
			for _, f := range x.Frames {
				if !yield(f) {
					return
				}
			}
		}
	}
}

// Return hands a received chain back to the binding, unless the runtime
// lent it (ReceiveFlagResources): what every ReceiveNetBufferLists does
// once it has read the frames.
func Return(b *ndis.Binding, l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	if flags&ndis.ReceiveFlagResources == 0 {
		b.ReturnNetBufferLists(l)
	}
}

// MaxFrame is the size of a reply NBL's buffer: an untagged Ethernet frame
// of a 1500-byte MTU, without FCS. A longer reply gets a buffer of its
// own.
const MaxFrame = ndis.EthernetHeaderSize + 1500

// Replier is the datapath of a protocol that answers requests with frames
// of its own: it copies each answer into a reply NBL from a pool whose
// limit is the window (a request that finds none free is dropped and
// counted), sends a receive's replies in one call, and counts their
// completions by status. Its methods are safe from any goroutine.
type Replier struct {
	b    *ndis.Binding
	pool *ndis.Pool

	sent     atomic.Uint64
	noBuffer atomic.Uint64

	// Completed counts the reply NBLs completed, by status.
	Completed StatusCounts
}

// NewReplier returns a Replier sending on b with at most window replies in
// flight.
func NewReplier(b *ndis.Binding, window int) *Replier {
	return &Replier{b: b, pool: ndis.NewPool(MaxFrame, window)}
}

// Receive is the body of the protocol's ReceiveNetBufferLists. For each
// frame f of the chain that want takes (want may count it), it takes a
// reply NBL and has build write the reply into out, at least len(f) bytes
// long; build returns the reply's length, or 0 to send nothing after all.
// Then it returns the chain (unless the runtime lent it) and sends the
// replies. It does not block.
func (r *Replier) Receive(l *ndis.NetBufferList, flags ndis.ReceiveFlags, want func(f []byte) bool, build func(out, f []byte) int) {
	var replies ndis.List
	for f := range Frames(l) {
		if !want(f) {
			continue
		}
		x, _ := r.pool.Get(1)
		if x == nil {
			r.noBuffer.Add(1)
			continue
		}
		out := x.Frames[0][:cap(x.Frames[0])]
		if len(out) < len(f) {
			out = make([]byte, len(f))
		}
		n := build(out, f)
		if n == 0 {
			r.pool.Put(x)
			continue
		}
		x.Frames[0] = out[:n]
		replies.Push(x)
	}
	Return(r.b, l, flags)
	if !replies.Empty() {
		r.sent.Add(uint64(replies.Len()))
		r.b.SendNetBufferLists(replies.Take())
	}
}

// Complete is the protocol's SendNetBufferListsComplete: it counts the
// replies by status and puts them back in the pool.
func (r *Replier) Complete(l *ndis.NetBufferList) {
	r.Completed.Add(l)
	r.pool.Put(l)
}

// Sent returns how many replies were handed to the binding.
func (r *Replier) Sent() uint64 { return r.sent.Load() }

// NoBuffer returns how many requests were dropped because every reply NBL
// was in flight.
func (r *Replier) NoBuffer() uint64 { return r.noBuffer.Load() }
