package ndis

// List is an NBL chain under construction: a head, a tail and a length, so
// that appending one NBL or a whole chain costs O(1) after the chain's own
// walk. Drivers queue sends and build indications with it; protocols build
// batches. The zero List is empty and ready. A List is not safe for
// concurrent use; guard it with the lock of whatever owns it.
type List struct {
	head, tail *NetBufferList
	n          int
}

// Push appends one NBL; its Next is cleared.
func (q *List) Push(x *NetBufferList) {
	x.Next = nil
	if q.head == nil {
		q.head = x
	} else {
		q.tail.Next = x
	}
	q.tail = x
	q.n++
}

// PushChain appends the chain that starts at l, walking it once to find
// its tail and length. A nil l appends nothing.
func (q *List) PushChain(l *NetBufferList) {
	if l == nil {
		return
	}
	n, tail := 1, l
	for tail.Next != nil {
		tail = tail.Next
		n++
	}
	q.join(l, tail, n)
}

// PushList moves every NBL of r to the end of q, in O(1); r is left empty.
func (q *List) PushList(r *List) {
	if r.head != nil {
		q.join(r.head, r.tail, r.n)
	}
	*r = List{}
}

func (q *List) join(head, tail *NetBufferList, n int) {
	if q.head == nil {
		q.head = head
	} else {
		q.tail.Next = head
	}
	q.tail = tail
	q.n += n
}

// Take returns the whole chain, nil when the List is empty, and leaves the
// List empty.
func (q *List) Take() *NetBufferList {
	l := q.head
	*q = List{}
	return l
}

// Head returns the first NBL without taking anything.
func (q *List) Head() *NetBufferList { return q.head }

// Len returns the number of NBLs in the List.
func (q *List) Len() int { return q.n }

// Empty reports whether the List holds no NBL.
func (q *List) Empty() bool { return q.head == nil }
