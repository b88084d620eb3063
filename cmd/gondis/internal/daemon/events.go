package daemon

import (
	"sync"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/ndis"
)

// HistorySize is how many events the daemon remembers for `gondis events`.
const HistorySize = 1024

// subscriberBuffer is how many events a follower may lag behind before it
// is cut off (its channel closed): the event handler must never block.
const subscriberBuffer = 1024

// history is a ring of the most recent events, and the followers of new
// ones. The runtime has no event history of its own, so the daemon keeps
// it, fed by ndis.WithEventHandler.
type history struct {
	mu     sync.Mutex
	ring   []api.Event // HistorySize slots, oldest at next once full
	next   int
	seq    uint64
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscription is a follower of new events.
type Subscription struct {
	// C delivers events in order. It is closed when the follower fell too
	// far behind, or the daemon stopped.
	C chan api.Event
	h *history
}

func newHistory() *history {
	return &history{ring: make([]api.Event, 0, HistorySize), subs: make(map[*Subscription]struct{})}
}

// add records a runtime event.
func (h *history) add(ev ndis.Event) {
	e := api.Event{Time: ev.Time, Adapter: ev.Adapter, Kind: ev.Kind.String(), Detail: ev.Detail}
	switch ev.Kind {
	case ndis.EventState:
		e.State = ev.State.String()
	case ndis.EventResetRequested, ndis.EventResetStart, ndis.EventResetPending, ndis.EventResetRestore,
		ndis.EventResetEnd, ndis.EventResetEscalated:
		e.Cause = ev.Cause.String()
	}
	if ev.Kind == ndis.EventResetEnd || ev.Kind == ndis.EventResetEscalated {
		e.Status = ev.Status.String()
		e.Duration = ev.Duration
	}
	h.record(e)
}

// record numbers and records an event, the runtime's or the daemon's own,
// and hands it to the followers, never blocking.
func (h *history) record(e api.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq = h.seq
	if len(h.ring) < HistorySize {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.next] = e
		h.next = (h.next + 1) % HistorySize
	}
	for s := range h.subs {
		select {
		case s.C <- e:
		default:
			delete(h.subs, s)
			close(s.C)
		}
	}
}

// snapshot returns the recorded events, oldest first.
func (h *history) snapshot() []api.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

func (h *history) snapshotLocked() []api.Event {
	out := make([]api.Event, 0, len(h.ring))
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}

// subscribe returns the history and a subscription to every event after
// it, atomically: nothing is missed or repeated.
func (h *history) subscribe() ([]api.Event, *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &Subscription{C: make(chan api.Event, subscriberBuffer), h: h}
	if h.closed {
		close(s.C)
	} else {
		h.subs[s] = struct{}{}
	}
	return h.snapshotLocked(), s
}

// Close ends the subscription; its channel is closed. Close twice is fine.
func (s *Subscription) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.C)
	}
}

// close ends every subscription.
func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.C)
	}
}
