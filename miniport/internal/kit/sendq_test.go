package kit

import (
	"sync"
	"testing"

	"github.com/gondis/gondis/ndis"
)

// TestSendQueue: every NBL pushed from several goroutines is transmitted
// exactly once, in order per pusher, with a wake-up whenever the
// transmitter would otherwise sleep on a non-empty queue.
func TestSendQueue(t *testing.T) {
	var q SendQueue
	wake := make(chan struct{}, 1)
	stop := make(chan struct{})
	seen := make(map[*ndis.NetBufferList]int)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				q.Serve(func(l *ndis.NetBufferList) {})
				return
			case <-wake:
			}
			q.Serve(func(l *ndis.NetBufferList) {
				mu.Lock()
				for x := l; x != nil; x = x.Next {
					seen[x]++
				}
				mu.Unlock()
			})
		}
	}()
	const pushers, chains = 4, 500
	var wg sync.WaitGroup
	all := make([][]*ndis.NetBufferList, pushers)
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range chains {
				a, b := ndis.NewNetBufferList(), ndis.NewNetBufferList()
				all[p] = append(all[p], a, b)
				if q.Push(ndis.Chain(a, b)) {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	wg.Wait()
	q.WaitIdle()
	for !q.Drained() {
		select {
		case wake <- struct{}{}:
		default:
		}
		q.WaitIdle()
	}
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	for _, ls := range all {
		for _, x := range ls {
			if seen[x] != 1 {
				t.Fatalf("NBL transmitted %d times", seen[x])
			}
		}
	}
}

// TestSendQueueFlush: Take takes what is pending and WaitIdle waits for the
// chain being transmitted (Flush is the two under one lock).
func TestSendQueueFlush(t *testing.T) {
	var q SendQueue
	first := ndis.NewNetBufferList()
	if !q.Push(first) {
		t.Fatal("first push into an idle, empty queue did not ask for a wake-up")
	}
	inside, release := make(chan struct{}), make(chan struct{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		q.Serve(func(l *ndis.NetBufferList) {
			if l == first {
				close(inside)
				<-release
			}
		})
	}()
	<-inside
	second := ndis.NewNetBufferList()
	if q.Push(second) {
		t.Error("a push while the transmitter is busy asked for a wake-up")
	}
	if l := q.Take(); l != second {
		t.Errorf("Take took %p, want the second chain", l)
	}
	waited := make(chan struct{})
	go func() { q.WaitIdle(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("WaitIdle returned while a chain was being transmitted")
	default:
	}
	close(release)
	<-waited
	<-served
	if !q.Drained() {
		t.Error("queue not drained")
	}
}

func TestSendQueueFlushIdle(t *testing.T) {
	var q SendQueue
	l := ndis.NewNetBufferList()
	q.Push(l)
	if got := q.Flush(); got != l || !q.Drained() {
		t.Fatalf("Flush of an idle queue took %p, drained %v", got, q.Drained())
	}
}

// TestAbort: every NBL of the chain is aborted and its frames counted.
func TestAbort(t *testing.T) {
	l := ndis.Chain(ndis.NewNetBufferList([]byte{1}, []byte{2}), ndis.NewNetBufferList(), ndis.NewNetBufferList([]byte{3}))
	if n := Abort(l); n != 3 {
		t.Errorf("Abort counted %d frames, want 3", n)
	}
	for x := l; x != nil; x = x.Next {
		if x.Status != ndis.StatusRequestAborted {
			t.Errorf("NBL status %s", x.Status)
		}
	}
	if n := Abort(nil); n != 0 {
		t.Errorf("Abort(nil) = %d", n)
	}
}
