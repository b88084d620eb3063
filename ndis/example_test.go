package ndis_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/gondis/gondis/ndis"
)

// mirror is a tiny miniport: every frame it is sent comes straight back as
// a receive. It completes everything inline; a real device completes from
// its own goroutine, through the same calls.
type mirror struct {
	a        *ndis.Adapter
	sent     atomic.Uint64 // frames sent, for OID_GEN_XMIT_OK
	returned atomic.Uint64 // receive NBLs the protocols gave back
}

var (
	_ ndis.Miniport = (*mirror)(nil)
	_ ndis.Resetter = (*mirror)(nil)
)

// initMirror is MiniportInitializeEx: it reads the adapter's parameters,
// sets its attributes and returns its Miniport.
func initMirror(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
	mac, err := ndis.ParseStationAddress(p.Params["mac"])
	if err != nil {
		return nil, &ndis.ParamError{Driver: "mirror", Key: "mac", Value: p.Params["mac"], Reason: err.Error()}
	}
	if err := a.SetMiniportAttributes(&ndis.GeneralAttributes{
		MediaConnectState:   ndis.MediaConnectStateConnected,
		MediaDuplexState:    ndis.MediaDuplexStateFull,
		XmitLinkSpeed:       1e9,
		RcvLinkSpeed:        1e9,
		PermanentMacAddress: mac,
		CurrentMacAddress:   mac,
	}); err != nil {
		return nil, err
	}
	return &mirror{a: a}, nil
}

func (m *mirror) SendNetBufferLists(l *ndis.NetBufferList) {
	var rx ndis.List
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			rx.Push(ndis.NewNetBufferList(append([]byte(nil), f...)))
			m.sent.Add(1)
		}
		x.Status = ndis.StatusSuccess
	}
	m.a.IndicateReceiveNetBufferLists(rx.Take(), 0)
	m.a.SendNetBufferListsComplete(l)
}

func (m *mirror) ReturnNetBufferLists(l *ndis.NetBufferList) {
	m.returned.Add(uint64(l.Len()))
}

func (m *mirror) OidRequest(r *ndis.OidRequest) ndis.Status {
	switch {
	case r.Type == ndis.RequestSet && r.OID == ndis.OIDGenCurrentPacketFilter:
		_, s := r.Ulong() // the union of the bindings' filters: no hardware to program
		return s
	case r.Type == ndis.RequestQuery && r.OID == ndis.OIDGenXmitOK:
		return r.PutCounter(m.sent.Load())
	}
	return ndis.StatusInvalidOid
}

func (m *mirror) Reset() (addressingReset bool, s ndis.Status) {
	fmt.Println("miniport: Reset")
	return true, ndis.StatusSuccess // nothing held; restore the packet filter
}

func (m *mirror) Pause() ndis.Status          { return ndis.StatusSuccess }
func (m *mirror) Restart() ndis.Status        { return ndis.StatusSuccess }
func (m *mirror) Halt(action ndis.HaltAction) { fmt.Println("miniport: Halt,", action) }

// greeter is a tiny protocol: it prints what it receives and hears.
type greeter struct {
	b        *ndis.Binding
	greeting string
	resetEnd chan struct{}
}

var (
	_ ndis.Protocol = (*greeter)(nil)
	_ ndis.Unbinder = (*greeter)(nil)
)

// bindGreeter is ProtocolBindAdapterEx.
func bindGreeter(b *ndis.Binding) (ndis.Protocol, error) {
	return &greeter{b: b, greeting: b.Params()["greeting"], resetEnd: make(chan struct{}, 1)}, nil
}

// send sends one frame to the adapter's own address.
func (g *greeter) send() {
	dst := g.b.Adapter().MacAddress()
	f := make([]byte, ndis.EthernetHeaderSize, 64)
	copy(f, dst[:])
	copy(f[6:], dst[:])
	binary.BigEndian.PutUint16(f[12:], 0x88B5) // a local experimental EtherType
	g.b.SendNetBufferLists(ndis.NewNetBufferList(append(f, g.greeting...)))
}

func (g *greeter) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	for x := l; x != nil; x = x.Next {
		fmt.Printf("protocol: received %q\n", x.Frames[0][ndis.EthernetHeaderSize:])
	}
	g.b.ReturnNetBufferLists(l) // no ReceiveFlagResources: the NBLs go back
}

func (g *greeter) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for x := l; x != nil; x = x.Next {
		fmt.Println("protocol: send completed,", x.Status)
	}
}

func (g *greeter) Status(code ndis.Status, payload []byte) {
	switch code {
	case ndis.StatusResetStart:
		fmt.Println("protocol:", code)
	case ndis.StatusResetEnd:
		fmt.Printf("protocol: %s (%s)\n", code, ndis.Status(binary.LittleEndian.Uint32(payload)))
		g.resetEnd <- struct{}{}
	}
}

func (g *greeter) UnbindAdapter() { fmt.Println("protocol: unbound") }

// A miniport and a protocol end to end: register both, add an adapter, bind,
// set the packet filter, send a frame and receive it back, query OIDs,
// reset the adapter, and close.
func Example() {
	ctx := context.Background()
	rt := ndis.New(ndis.WithViolationHandler(func(v ndis.Violation) { fmt.Println("violation:", v) }))
	if err := rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "mirror", Version: ndis.Version630, Initialize: initMirror}); err != nil {
		panic(err)
	}
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "greeter", BindAdapter: bindGreeter}); err != nil {
		panic(err)
	}
	_, err := rt.AddAdapter(ctx, "mirror0", "mirror", map[string]string{"mac": "02:00:00:00:00:01"})
	if err != nil {
		panic(err)
	}
	b, err := rt.Bind(ctx, "greeter", "mirror0", ndis.BindParams(map[string]string{"greeting": "hello"}))
	if err != nil {
		panic(err)
	}
	g := b.ProtocolContext().(*greeter)

	// A binding receives nothing until it sets its packet filter.
	filter := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected | ndis.PacketTypeBroadcast)}
	fmt.Println("set packet filter:", b.OidRequest(ctx, filter))
	g.send()

	// The runtime answers the address from the general attributes; the
	// miniport answers its counter.
	addr := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OID8023CurrentAddress, Buffer: make([]byte, 6)}
	fmt.Println("current address:", b.OidRequest(ctx, addr), ndis.MacAddress(addr.Buffer))
	xmit := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenXmitOK, Buffer: make([]byte, 8)}
	fmt.Println("frames sent:", b.OidRequest(ctx, xmit), binary.LittleEndian.Uint64(xmit.Buffer))

	// An operator's reset: the protocol hears RESET_START, the miniport's
	// Reset runs, and RESET_END follows on a goroutine of the runtime's.
	if err := rt.ResetAdapter("mirror0"); err != nil {
		panic(err)
	}
	<-g.resetEnd
	g.send()

	// Close pauses the adapter, unbinds the protocol and halts the miniport.
	if err := rt.Close(ctx); err != nil {
		panic(err)
	}
	// Output:
	// set packet filter: NDIS_STATUS_SUCCESS
	// protocol: received "hello"
	// protocol: send completed, NDIS_STATUS_SUCCESS
	// current address: NDIS_STATUS_SUCCESS 02:00:00:00:00:01
	// frames sent: NDIS_STATUS_SUCCESS 1
	// protocol: NDIS_STATUS_RESET_START
	// miniport: Reset
	// protocol: NDIS_STATUS_RESET_END (NDIS_STATUS_SUCCESS)
	// protocol: received "hello"
	// protocol: send completed, NDIS_STATUS_SUCCESS
	// protocol: unbound
	// miniport: Halt, NdisHaltDeviceDisabled
}
