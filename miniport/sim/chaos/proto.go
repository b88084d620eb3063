package chaos

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
)

// proto is the soak's protocol, one per binding: it sends windows of NBLs
// and checks that every one comes back exactly once, to it; it returns
// every receive at once; it checks that RESET_START and RESET_END strictly
// alternate.
type proto struct {
	b   *ndis.Binding
	dst ndis.MacAddress // the peer's address

	inReset                               atomic.Bool
	sent, received, completed, duplicated atomic.Uint64
	back                                  chan *ndis.NetBufferList

	mu   sync.Mutex
	errs []string
}

const (
	window    = 32 // NBLs a sender keeps in flight
	batch     = 8
	frameSize = 60
)

func (s *soak) bind(b *ndis.Binding) (ndis.Protocol, error) {
	p := &proto{b: b, back: make(chan *ndis.NetBufferList, window)}
	s.mu.Lock()
	s.protos = append(s.protos, p)
	s.mu.Unlock()
	return p, nil
}

func (p *proto) fail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.errs) < 5 {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
}

// ReceiveNetBufferLists implements ndis.Protocol.
func (p *proto) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	p.received.Add(uint64(l.Len()))
	if flags&ndis.ReceiveFlagResources == 0 {
		p.b.ReturnNetBufferLists(l)
	}
}

// SendNetBufferListsComplete implements ndis.Protocol.
func (p *proto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for l != nil {
		next := l.Next
		l.Next = nil
		if owner, _ := l.ProtocolReserved.(*proto); owner != p {
			p.duplicated.Add(1) // another binding's NBL
		} else {
			p.completed.Add(1)
			p.back <- l // capacity window: never blocks
		}
		l = next
	}
}

// Status implements ndis.Protocol.
func (p *proto) Status(code ndis.Status, payload []byte) {
	switch code {
	case ndis.StatusResetStart:
		if p.inReset.Swap(true) {
			p.fail("RESET_START while a reset was open")
		}
	case ndis.StatusResetEnd:
		if !p.inReset.Swap(false) {
			p.fail("RESET_END without RESET_START")
		}
		if len(payload) != 4 {
			p.fail("RESET_END without its status")
		}
	}
}

// sender keeps a window of NBLs in flight until stop, then waits for the
// last ones. Each NBL comes back exactly once before it is sent again.
func (p *proto) sender(stop <-chan struct{}) {
	pool := ndis.NewPool(frameSize, 0)
	chain, _ := pool.Get(window)
	var free []*ndis.NetBufferList
	for x := chain; x != nil; {
		next := x.Next
		x.Next = nil
		x.ProtocolReserved = p
		free = append(free, x)
		x = next
	}
	out := make(map[*ndis.NetBufferList]bool, window)
	var seq uint32
	take := func(l *ndis.NetBufferList) {
		if !out[l] {
			p.duplicated.Add(1)
			return
		}
		delete(out, l)
		free = append(free, l)
		if l.Status == ndis.StatusResetInProgress || l.Status == ndis.StatusPaused {
			time.Sleep(50 * time.Microsecond) // hold the data while the adapter is away
		}
	}
	for {
		for len(free) >= batch {
			var chain ndis.List
			for _, x := range free[len(free)-batch:] {
				seq++
				p.fill(x, seq)
				out[x] = true
				chain.Push(x)
			}
			free = free[:len(free)-batch]
			p.sent.Add(batch)
			p.b.SendNetBufferLists(chain.Take())
		}
		select {
		case l := <-p.back:
			take(l)
		case <-stop:
			deadline := time.After(10 * time.Second)
			for len(out) > 0 {
				select {
				case l := <-p.back:
					take(l)
				case <-deadline:
					p.fail("%d sends never came back", len(out))
					return
				}
			}
			return
		}
	}
}

// fill writes a frame for the peer: directed, broadcast or multicast in
// turn.
func (p *proto) fill(x *ndis.NetBufferList, seq uint32) {
	f := x.Frames[0][:frameSize]
	switch seq % 3 {
	case 0:
		copy(f, p.dst[:])
	case 1:
		copy(f, ndis.BroadcastAddress[:])
	default:
		copy(f, groups[0][:])
	}
	mac := p.b.Adapter().MacAddress()
	copy(f[6:], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x88b5)
	binary.BigEndian.PutUint32(f[14:], seq)
	x.Frames[0] = f
	x.Status = ndis.StatusSuccess
}

// watchCounters count requests that reached a miniport inside its Reset.
type watchCounters struct {
	sendsInReset, oidsInReset atomic.Uint64
}

// watched wraps the sim miniport to see what reaches it while its Reset
// runs: nothing may (R5).
type watched struct {
	ndis.Miniport
	r       ndis.Resetter
	h       ndis.HangChecker
	w       *watchCounters
	inReset atomic.Bool
}

func (s *soak) watched(d ndis.MiniportDriver) ndis.MiniportDriver {
	inner := d.Initialize
	d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		mp, err := inner(a, p)
		if err != nil {
			return nil, err
		}
		r, _ := mp.(ndis.Resetter)
		h, _ := mp.(ndis.HangChecker)
		return &watched{Miniport: mp, r: r, h: h, w: &s.watch}, nil
	}
	return d
}

// The interfaces watched implements: those of the sim's miniport that it
// watches.
var (
	_ ndis.Miniport    = (*watched)(nil)
	_ ndis.Resetter    = (*watched)(nil)
	_ ndis.HangChecker = (*watched)(nil)
)

// Unwrap returns the sim's miniport, so that sim.DeviceOf sees through the
// watcher.
func (m *watched) Unwrap() ndis.Miniport { return m.Miniport }

func (m *watched) Reset() (bool, ndis.Status) {
	m.inReset.Store(true)
	defer m.inReset.Store(false)
	return m.r.Reset()
}

func (m *watched) CheckForHang() bool { return m.h.CheckForHang() }

func (m *watched) SendNetBufferLists(l *ndis.NetBufferList) {
	if m.inReset.Load() {
		m.w.sendsInReset.Add(1)
	}
	m.Miniport.SendNetBufferLists(l)
}

func (m *watched) OidRequest(r *ndis.OidRequest) ndis.Status {
	if m.inReset.Load() {
		m.w.oidsInReset.Add(1)
	}
	return m.Miniport.OidRequest(r)
}
