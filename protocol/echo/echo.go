package echo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/bindparams"
	"github.com/gondis/gondis/protocol/internal/frame"
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

// ValidateParams reports the first bad parameter of a binding, in sorted
// key order, or nil.
func ValidateParams(params map[string]string) error {
	_, err := ParseParams(params)
	return err
}

// ParseParams reads a binding's parameters (see the package doc).
func ParseParams(params map[string]string) (Params, error) {
	p := Params{EtherType: frame.DefaultEtherType, Window: DefaultWindow}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		var err error
		switch k {
		case "ethertype":
			p.EtherType, err = frame.ParseEtherType(v)
		case "window":
			n, aerr := strconv.Atoi(v)
			if aerr != nil || n < 1 || n > MaxWindow {
				err = fmt.Errorf("want an integer in 1…%d", MaxWindow)
			}
			p.Window = n
		default:
			err = fmt.Errorf("unknown parameter")
		}
		if err != nil {
			return Params{}, fmt.Errorf("echo: parameter %s=%q: %w", k, v, err)
		}
	}
	return p, nil
}

// Driver returns the echo protocol driver, named "echo", reading its
// binding parameters from bindparams.Default.
func Driver() ndis.ProtocolDriver { return DriverWith(bindparams.Default) }

// DriverWith returns the echo protocol driver reading its binding
// parameters from reg.
func DriverWith(reg *bindparams.Registry) ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: Name,
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			p, err := ParseParams(reg.Get(Name, b.Adapter().Name()))
			if err != nil {
				return nil, err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := frame.SetFilter(ctx, b); err != nil {
				return nil, err
			}
			e := &Echo{b: b, params: p, mac: b.Adapter().MacAddress(), completed: make(map[ndis.Status]uint64),
				replies: ndis.NewPool(frame.MaxSize, p.Window)}
			return e, nil
		},
	}
}

// Echo is the echo protocol of one binding (what BindAdapter returns). Its
// methods are safe from any goroutine.
type Echo struct {
	b      *ndis.Binding
	params Params
	mac    ndis.MacAddress

	requests atomic.Uint64 // requests received for this adapter
	answered atomic.Uint64
	noBuffer atomic.Uint64 // requests not answered: every reply NBL in flight

	replies *ndis.Pool // reply NBLs; its limit is the window

	mu        sync.Mutex
	completed map[ndis.Status]uint64
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
// NBL of its own, then returns the receives.
func (e *Echo) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	var head, tail *ndis.NetBufferList
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			dst, et, op, ok := frame.Parse(f)
			if !ok || et != e.params.EtherType || op != frame.OpRequest ||
				(dst != e.mac && dst != ndis.BroadcastAddress) {
				continue
			}
			e.requests.Add(1)
			r, _ := e.replies.Get(1)
			if r == nil {
				e.noBuffer.Add(1)
				continue
			}
			out := append(r.Frames[0][:0], f...)
			copy(out[0:6], f[6:12]) // to the sender
			copy(out[6:12], e.mac[:])
			out[frame.OpOffset] = frame.OpReply
			r.Frames[0] = out
			if head == nil {
				head = r
			} else {
				tail.Next = r
			}
			tail = r
		}
	}
	if flags&ndis.ReceiveFlagResources == 0 {
		e.b.ReturnNetBufferLists(l)
	}
	if head != nil {
		e.answered.Add(uint64(head.Len()))
		e.b.SendNetBufferLists(head)
	}
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: replies
// go back to the pool, counted by status.
func (e *Echo) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	e.mu.Lock()
	for x := l; x != nil; x = x.Next {
		e.completed[x.Status]++
	}
	e.mu.Unlock()
	e.replies.Put(l)
}

// Status is ProtocolStatusEx. The echo keeps no state across a reset:
// replies sent during one complete with StatusResetInProgress.
func (e *Echo) Status(ndis.Status, []byte) {}

// Stats returns a snapshot of the echo's counters.
func (e *Echo) Stats() Stats {
	e.mu.Lock()
	c := maps.Clone(e.completed)
	e.mu.Unlock()
	return Stats{Requests: e.requests.Load(), Answered: e.answered.Load(), NoBuffer: e.noBuffer.Load(), Completed: c}
}
