package ndis

import (
	"sync"
	"sync/atomic"
)

// NetBufferList is a NET_BUFFER_LIST: one packet, whose NET_BUFFERs are the
// Ethernet frames in Frames (every frame of one NBL has the same Ethernet
// header), linked into chains through Next. Batches travel as chains, in
// both directions.
//
// Whoever holds an NBL owns it; a call that takes a chain takes ownership of
// every NBL in it until it is handed back (a send completion, a return).
type NetBufferList struct {
	Next   *NetBufferList
	Status Status   // set by whoever completes it
	Frames [][]byte // the NET_BUFFERs: one Ethernet frame each

	// ProtocolReserved and MiniportReserved are scratch space for the
	// protocol that sends (or receives) the NBL and for the miniport that
	// holds it. Storing a pointer here does not allocate.
	ProtocolReserved any
	MiniportReserved any

	owner     *Binding // the binding that sent it
	state     nblState
	rxBinding *Binding       // the binding it is indicated to
	parent    *NetBufferList // the original of a receive clone
	refs      atomic.Int32   // deliveries of a shared receive still held
	shared    bool           // indicated to more than one binding
	mpNext    *NetBufferList // the miniport's chain link during an indication

	pool  *Pool
	buf   []byte
	frame [1][]byte
}

// nblState records where an NBL is, for the verifier.
type nblState uint8

const (
	nblIdle      nblState = iota // with its creator
	nblSent                      // handed to the miniport by a send
	nblIndicated                 // indicated to a protocol, not yet returned
	nblLent                      // indicated with ReceiveFlagResources
)

// NewNetBufferList allocates an NBL holding frames, one NET_BUFFER each. It
// is a convenience for tests and control traffic; hot paths use a Pool.
func NewNetBufferList(frames ...[]byte) *NetBufferList {
	return &NetBufferList{Frames: frames}
}

// Chain links NBLs into a chain through Next and returns its head.
func Chain(ls ...*NetBufferList) *NetBufferList {
	var head, tail *NetBufferList
	for _, l := range ls {
		if head == nil {
			head = l
		} else {
			tail.Next = l
		}
		tail = l
	}
	if tail != nil {
		tail.Next = nil
	}
	return head
}

// Len returns the number of NBLs in the chain that starts at l.
func (l *NetBufferList) Len() int {
	n := 0
	for ; l != nil; l = l.Next {
		n++
	}
	return n
}

// Pool is a free list of NBLs, each with one frame buffer of a fixed size.
// Get and Put take one lock per call, so a batch costs one lock however
// long it is; a limit gives back-pressure, as NdisAllocateNetBufferList
// failing does. A Pool is safe for concurrent use.
type Pool struct {
	size  int
	limit int

	mu        sync.Mutex
	free      []*NetBufferList
	allocated int
}

// NewPool returns a pool of NBLs with one bufferSize-byte frame each. When
// limit is positive, no more than limit NBLs exist at once.
func NewPool(bufferSize, limit int) *Pool {
	return &Pool{size: bufferSize, limit: limit}
}

// Get returns a chain of up to n NBLs and how many it holds: fewer than n
// when the pool's limit is reached. Each NBL's Frames[0] is its whole
// buffer; reslice it to the length of the frame written into it.
func (p *Pool) Get(n int) (*NetBufferList, int) {
	var head *NetBufferList
	got := 0
	p.mu.Lock()
	for got < n {
		var l *NetBufferList
		if k := len(p.free); k > 0 {
			l = p.free[k-1]
			p.free[k-1] = nil
			p.free = p.free[:k-1]
		} else if p.limit <= 0 || p.allocated < p.limit {
			p.allocated++
			l = &NetBufferList{pool: p, buf: make([]byte, p.size)}
			l.frame[0] = l.buf
			l.Frames = l.frame[:]
		} else {
			break
		}
		l.Next = head
		head = l
		got++
	}
	p.mu.Unlock()
	return head, got
}

// Put returns every NBL of the chain to the pool, clearing what it
// carried. NBLs that did not come from this pool are left alone.
func (p *Pool) Put(l *NetBufferList) {
	p.mu.Lock()
	for l != nil {
		next := l.Next
		if l.pool == p {
			l.Next, l.Status = nil, StatusSuccess
			l.ProtocolReserved, l.MiniportReserved = nil, nil
			l.owner, l.rxBinding, l.parent, l.mpNext = nil, nil, nil, nil
			l.state, l.shared = nblIdle, false
			l.frame[0] = l.buf
			l.Frames = l.frame[:]
			p.free = append(p.free, l)
		}
		l = next
	}
	p.mu.Unlock()
}

// Outstanding returns how many of the pool's NBLs are not in the pool.
func (p *Pool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocated - len(p.free)
}
