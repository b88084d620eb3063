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
	// The fields are ordered by cache line (the struct is 192 bytes, so
	// its 64-byte lines are aligned): the first line holds everything
	// that each hop of a packet touches, so an NBL moving between a
	// protocol's goroutine and a miniport's costs one line, not three.

	Next   *NetBufferList
	Frames [][]byte // the NET_BUFFERs: one Ethernet frame each
	frame  [1][]byte
	Status Status // set by whoever completes it
	state  nblState
	shared bool // indicated to more than one binding

	owner     *Binding       // the binding that sent it
	rxBinding *Binding       // the binding it is indicated to
	parent    *NetBufferList // the original of a receive clone
	mpNext    *NetBufferList // the miniport's chain link during an indication
	pool      *Pool
	refs      atomic.Int32 // deliveries of a shared receive still held

	// ProtocolReserved and MiniportReserved are scratch space for the
	// protocol that sends (or receives) the NBL and for the miniport that
	// holds it. Storing a pointer here does not allocate.
	ProtocolReserved any
	MiniportReserved any

	// Checksum and LargeSend are the NBL's task-offload information
	// (NET_BUFFER_LIST_INFO TcpIpChecksumNetBufferListInfo and
	// TcpLargeSendNetBufferListInfo): what a protocol asks the miniport to
	// do on a send, what the miniport tells of a receive. Zero asks nothing.
	Checksum  ChecksumInfo
	LargeSend LargeSendInfo

	buf []byte
	_   [16]byte // to 192 bytes
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
// long it is, and Put keeps a returned chain whole, so handing a batch back
// and taking it again moves no per-NBL bookkeeping between goroutines. A
// limit gives back-pressure, as NdisAllocateNetBufferList failing does. A
// Pool is safe for concurrent use.
type Pool struct {
	size  int
	limit int

	mu        sync.Mutex
	chunks    []List // returned chains, kept whole
	free      int    // NBLs in chunks
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
	var out List
	p.mu.Lock()
	for out.n < n && len(p.chunks) > 0 {
		c := &p.chunks[len(p.chunks)-1]
		if c.n <= n-out.n {
			p.free -= c.n
			out.PushList(c)
			p.chunks = p.chunks[:len(p.chunks)-1]
			continue
		}
		// Take the first k of this chunk.
		k := n - out.n
		last := c.head
		for range k - 1 {
			last = last.Next
		}
		first := c.head
		c.head, c.n = last.Next, c.n-k
		last.Next = nil
		out.join(first, last, k)
		p.free -= k
	}
	for out.n < n && (p.limit <= 0 || p.allocated < p.limit) {
		p.allocated++
		l := &NetBufferList{pool: p, buf: make([]byte, p.size)}
		l.frame[0] = l.buf
		l.Frames = l.frame[:]
		out.Push(l)
	}
	p.mu.Unlock()
	got := out.n
	return out.Take(), got
}

// Put returns every NBL of the chain to the pool, clearing what it
// carried; the frame buffer's contents are kept, so a sender may build its
// frames once. NBLs that did not come from this pool are left alone.
func (p *Pool) Put(l *NetBufferList) {
	var back List
	for l != nil {
		next := l.Next
		if l.pool == p {
			l.Next, l.Status = nil, StatusSuccess
			if l.ProtocolReserved != nil || l.MiniportReserved != nil {
				l.ProtocolReserved, l.MiniportReserved = nil, nil
			}
			if l.owner != nil || l.rxBinding != nil || l.parent != nil || l.mpNext != nil {
				l.owner, l.rxBinding, l.parent, l.mpNext = nil, nil, nil, nil
			}
			l.state, l.shared = nblIdle, false
			l.Checksum, l.LargeSend = 0, 0
			l.frame[0] = l.buf
			l.Frames = l.frame[:]
			back.Push(l)
		}
		l = next
	}
	if back.Empty() {
		return
	}
	n := back.n
	p.mu.Lock()
	p.chunks = append(p.chunks, back)
	p.free += n
	p.mu.Unlock()
}

// Outstanding returns how many of the pool's NBLs are not in the pool.
func (p *Pool) Outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allocated - p.free
}
