package echo

import (
	"sync/atomic"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/frame"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// Name is the protocol driver's name.
const Name = "echo"

// Defaults and limits of the binding parameters.
const (
	DefaultWindow = 256
	MaxWindow     = 4096
)

// Params are a binding's parsed parameters.
type Params struct {
	EtherType uint16
	Window    int
}

// table declares the parameters; the package doc lists them.
var table = param.Table[Params]{
	Driver: Name,
	Specs: []param.Spec[Params]{
		frame.EtherTypeSpec("EtherType answered, decimal or 0x hex (default 0x88b5)",
			func(p *Params) *uint16 { return &p.EtherType }),
		param.IntSpec("window", "replies outstanding at most, 1…4096 (default 256)",
			1, MaxWindow, func(p *Params) *int { return &p.Window }),
	},
}

// ParseParams reads a binding's parameters (see the package doc) over the
// defaults. A bad one is a *ndis.ParamError: the first unknown key or
// refused value, in sorted key order.
func ParseParams(params map[string]string) (Params, error) {
	p := Params{EtherType: frame.DefaultEtherType, Window: DefaultWindow}
	if err := table.Parse(&p, params); err != nil {
		return Params{}, err
	}
	return p, nil
}

// Driver returns the echo protocol driver, named "echo". Its BindAdapter
// reads the binding's parameters (ndis.BindParams) and its ValidateParams
// checks them the same way.
func Driver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: Name,
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			p, err := ParseParams(b.Params())
			if err != nil {
				return nil, err
			}
			if err := kit.SetFilter(b); err != nil {
				return nil, err
			}
			return &Echo{params: p, mac: b.Adapter().MacAddress(), r: kit.NewReplier(b, p.Window)}, nil
		},
		ValidateParams: table.Validate,
	}
}

// Of returns the echo of a binding of the echo driver, what its
// BindAdapter returned; ok is false for another protocol's binding and
// while BindAdapter runs. It stays valid after the binding closes.
func Of(b *ndis.Binding) (*Echo, bool) {
	e, ok := b.ProtocolContext().(*Echo)
	return e, ok
}

// The echo's handlers.
var (
	_ ndis.Protocol = (*Echo)(nil)
	_ ndis.Reporter = (*Echo)(nil)
)

// Echo is the echo protocol of one binding (what BindAdapter returns). Its
// methods are safe from any goroutine.
type Echo struct {
	params Params
	mac    ndis.MacAddress

	requests atomic.Uint64 // requests received for this adapter

	r *kit.Replier // the replies; its window is the parameter's
}

// Stats is a snapshot of an echo's counters.
type Stats struct {
	Requests  uint64
	Answered  uint64
	NoBuffer  uint64
	Completed map[ndis.Status]uint64 // reply NBLs completed, by status
}

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: it answers the
// requests addressed to the adapter or broadcast, copying each into a reply
// NBL of its own, then returns the receives and sends the replies.
func (e *Echo) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	e.r.Receive(l, flags, e.isRequest, e.reply)
}

// isRequest reports whether f is a request for this adapter, and counts it.
func (e *Echo) isRequest(f []byte) bool {
	dst, et, op, ok := frame.Parse(f)
	if !ok || et != e.params.EtherType || op != frame.OpRequest || !kit.Filter.Accepts(dst, e.mac) {
		return false
	}
	e.requests.Add(1)
	return true
}

// reply writes the reply to the request f into out: back to the sender,
// from this adapter.
func (e *Echo) reply(out, f []byte) int {
	n := copy(out, f)
	copy(out[0:6], f[6:12])
	copy(out[6:12], e.mac[:])
	out[frame.OpOffset] = frame.OpReply
	return n
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: replies
// go back to the pool, counted by status.
func (e *Echo) SendNetBufferListsComplete(l *ndis.NetBufferList) { e.r.Complete(l) }

// Status is ProtocolStatusEx. The echo keeps no state across a reset:
// replies sent during one complete with StatusResetInProgress.
func (e *Echo) Status(ndis.Status, []byte) {}

// Stats returns a snapshot of the echo's counters.
func (e *Echo) Stats() Stats {
	return Stats{Requests: e.requests.Load(), Answered: e.r.Sent(), NoBuffer: e.r.NoBuffer(),
		Completed: e.r.Completed.Snapshot()}
}

// Report implements ndis.Reporter: the echo's counters and its replies'
// completions by status.
func (e *Echo) Report() []ndis.Detail {
	return append([]ndis.Detail{
		kit.Counter("requests", "requests received for this adapter", e.requests.Load()),
		kit.Counter("answered", "replies sent", e.r.Sent()),
		kit.Counter("no_buffer", "requests not answered: every reply NBL in flight", e.r.NoBuffer()),
	}, e.r.Completed.Details("completed", "reply NBLs completed, by status")...)
}
