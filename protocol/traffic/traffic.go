package traffic

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/frame"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// Name is the protocol driver's name.
const Name = "traffic"

// tick is how often the generator sends a burst.
const tick = 10 * time.Millisecond

// Driver returns the traffic protocol driver, named "traffic". Its
// BindAdapter reads the binding's parameters (ndis.BindParams) and its
// ValidateParams checks them the same way.
func Driver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: Name,
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			p, err := ParseParams(b.Params())
			if err != nil {
				return nil, err
			}
			return bind(b, p)
		},
		ValidateParams: table.Validate,
	}
}

// Of returns the generator of a binding of the traffic driver, what its
// BindAdapter returned; ok is false for another protocol's binding and
// while BindAdapter runs. It stays valid after the binding closes.
func Of(b *ndis.Binding) (*Generator, bool) {
	g, ok := b.ProtocolContext().(*Generator)
	return g, ok
}

// The generator's handlers.
var (
	_ ndis.Protocol = (*Generator)(nil)
	_ ndis.Unbinder = (*Generator)(nil)
	_ ndis.Reporter = (*Generator)(nil)
)

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

	pool      *ndis.Pool // the request NBLs; its limit is the window
	completed kit.StatusCounts

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
	if err := kit.SetFilter(b); err != nil {
		return nil, err
	}
	g := &Generator{b: b, params: p, pool: ndis.NewPool(p.Size, p.Window), stop: make(chan struct{}),
		done: make(chan struct{})}
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
	g.completed.Add(l)
	g.pool.Put(l)
}

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: it counts echo
// replies and other requests, and returns the NBLs at once.
func (g *Generator) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	for f := range kit.Frames(l) {
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
	kit.Return(g.b, l, flags)
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
	return Stats{Sent: g.sent.Load(), Completed: g.completed.Snapshot(), Replies: g.replies.Load(),
		Requests: g.requests.Load(), Resets: g.resets.Load(), Resetting: g.resetting.Load()}
}

// Report implements ndis.Reporter: the generator's counters, completions
// by status, and whether its sends are held by a reset.
func (g *Generator) Report() []ndis.Detail {
	d := []ndis.Detail{kit.Counter("sent", "request NBLs handed to the binding", g.sent.Load())}
	d = append(d, g.completed.Details("completed", "request NBLs completed, by status")...)
	return append(d,
		kit.Counter("replies", "echo replies received", g.replies.Load()),
		kit.Counter("requests", "request frames received and not answered", g.requests.Load()),
		kit.Counter("resets", "RESET_END indications seen", g.resets.Load()),
		kit.Flag("resetting", "1 while a reset holds the sends", g.resetting.Load()),
	)
}

// Params returns the generator's parameters.
func (g *Generator) Params() Params { return g.params }
