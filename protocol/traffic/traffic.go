package traffic

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/bindparams"
	"github.com/gondis/gondis/protocol/internal/frame"
)

// Name is the protocol driver's name.
const Name = "traffic"

// tick is how often the generator sends a burst.
const tick = 10 * time.Millisecond

// Driver returns the traffic protocol driver, named "traffic", reading its
// binding parameters from bindparams.Default.
func Driver() ndis.ProtocolDriver { return DriverWith(bindparams.Default) }

// DriverWith returns the traffic protocol driver reading its binding
// parameters from reg.
func DriverWith(reg *bindparams.Registry) ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: Name,
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			p, err := ParseParams(reg.Get(Name, b.Adapter().Name()))
			if err != nil {
				return nil, err
			}
			return bind(b, p)
		},
	}
}

// Generator is the traffic protocol of one binding (what BindAdapter
// returns). Its methods are safe from any goroutine.
type Generator struct {
	b      *ndis.Binding
	params Params

	resetting atomic.Bool // between RESET_START and RESET_END
	resets    atomic.Uint64
	replies   atomic.Uint64
	requests  atomic.Uint64 // requests seen (own frames looped back, or others')
	sent      atomic.Uint64

	pool *ndis.Pool // the request NBLs; its limit is the window

	mu        sync.Mutex
	completed map[ndis.Status]uint64

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// Stats is a snapshot of a generator's counters.
type Stats struct {
	Sent      uint64                 // NBLs handed to the binding
	Completed map[ndis.Status]uint64 // NBLs completed, by status
	Replies   uint64                 // echo replies received
	Requests  uint64                 // request frames received (not answered)
	Resets    uint64                 // RESET_END indications seen
	Resetting bool                   // sends held: a reset is in progress
}

func bind(b *ndis.Binding, p Params) (*Generator, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := frame.SetFilter(ctx, b); err != nil {
		return nil, err
	}
	g := &Generator{b: b, params: p, completed: make(map[ndis.Status]uint64),
		pool: ndis.NewPool(p.Size, p.Window), stop: make(chan struct{}), done: make(chan struct{})}
	// Build every request once: the pool keeps a buffer's contents.
	src := b.Adapter().MacAddress()
	all, _ := g.pool.Get(p.Window)
	i := uint32(0)
	for x := all; x != nil; x = x.Next {
		copy(x.Frames[0], frame.Build(p.Dest, src, p.EtherType, p.Size))
		if p.Size >= frame.MinSize+4 {
			binary.BigEndian.PutUint32(x.Frames[0][frame.MinSize:], i)
		}
		i++
	}
	g.pool.Put(all)
	go g.run()
	return g, nil
}

// run sends a burst every tick: the frames the rate allows, at most the
// free NBLs, none while a reset is in progress.
func (g *Generator) run() {
	defer close(g.done)
	if g.params.Rate == 0 {
		<-g.stop
		return
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	credit := 0.0
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			credit += now.Sub(last).Seconds() * float64(g.params.Rate)
			last = now
			if max := float64(g.params.Window); credit > max {
				credit = max // no bursts to catch up after a hold
			}
			if g.resetting.Load() || credit < 1 {
				continue
			}
			l, n := g.pool.Get(int(credit))
			if n == 0 {
				continue
			}
			credit -= float64(n)
			g.sent.Add(uint64(n))
			g.b.SendNetBufferLists(l)
		}
	}
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: it
// counts the completions by status and puts the NBLs back in the pool.
func (g *Generator) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	g.mu.Lock()
	for x := l; x != nil; x = x.Next {
		g.completed[x.Status]++
	}
	g.mu.Unlock()
	g.pool.Put(l)
}

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: it counts echo
// replies and other requests, and returns the NBLs at once.
func (g *Generator) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			_, et, op, ok := frame.Parse(f)
			if !ok || et != g.params.EtherType {
				continue
			}
			switch op {
			case frame.OpReply:
				g.replies.Add(1)
			case frame.OpRequest:
				g.requests.Add(1)
			}
		}
	}
	if flags&ndis.ReceiveFlagResources == 0 {
		g.b.ReturnNetBufferLists(l)
	}
}

// Status is ProtocolStatusEx: RESET_START holds the sends, RESET_END
// releases them.
func (g *Generator) Status(code ndis.Status, _ []byte) {
	switch code {
	case ndis.StatusResetStart:
		g.resetting.Store(true)
	case ndis.StatusResetEnd:
		g.resets.Add(1)
		g.resetting.Store(false)
	}
}

// UnbindAdapter is ProtocolUnbindAdapterEx: it stops the generator and
// waits for it. The runtime completes whatever is still in flight.
func (g *Generator) UnbindAdapter() { g.Stop() }

// Stop stops the generator; Stop twice is fine.
func (g *Generator) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
}

// Stats returns a snapshot of the generator's counters.
func (g *Generator) Stats() Stats {
	g.mu.Lock()
	c := make(map[ndis.Status]uint64, len(g.completed))
	for k, v := range g.completed {
		c[k] = v
	}
	g.mu.Unlock()
	return Stats{Sent: g.sent.Load(), Completed: c, Replies: g.replies.Load(), Requests: g.requests.Load(),
		Resets: g.resets.Load(), Resetting: g.resetting.Load()}
}

// Params returns the generator's parameters.
func (g *Generator) Params() Params { return g.params }
