package ndistest

import (
	"sort"
	"sync"
	"time"

	"github.com/gondis/gondis/ndis"
)

// FakeClock is an ndis.Clock whose time moves only when the test says so.
// Timers fire synchronously inside Advance, in time order, so a test that
// advances past a check-for-hang period knows the tick has been posted to
// the adapter when Advance returns.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
	armed  chan struct{} // signalled whenever a timer is armed
}

type fakeTimer struct {
	c    *FakeClock
	when time.Time
	seq  int
	f    func()
	dead bool
}

// NewFakeClock returns a fake clock set to a fixed instant.
func NewFakeClock() *FakeClock {
	return &FakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), armed: make(chan struct{}, 1)}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that fires when Advance moves past d from now.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) ndis.Timer {
	c.mu.Lock()
	c.seq++
	t := &fakeTimer{c: c, when: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.armed <- struct{}{}:
	default:
	}
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.dead {
		return false
	}
	t.dead = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			break
		}
	}
	return true
}

// Advance moves the clock forward by d, firing every timer that falls due,
// in order, each at its own instant.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.Slice(c.timers, func(i, j int) bool {
			if !c.timers[i].when.Equal(c.timers[j].when) {
				return c.timers[i].when.Before(c.timers[j].when)
			}
			return c.timers[i].seq < c.timers[j].seq
		})
		if len(c.timers) == 0 || c.timers[0].when.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		t.dead = true
		if t.when.After(c.now) {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Timers returns how many timers are armed.
func (c *FakeClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers waits until at least n timers are armed, or the timeout.
func (c *FakeClock) WaitTimers(t TB, n int) {
	t.Helper()
	deadline := time.After(WaitTimeout)
	for c.Timers() < n {
		select {
		case <-c.armed:
		case <-time.After(time.Millisecond):
		case <-deadline:
			t.Fatalf("ndistest: %d timers armed, want %d", c.Timers(), n)
			return
		}
	}
}
