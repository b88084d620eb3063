// Command loopback is a tour of gondis in one program: it adds an in-memory
// loopback adapter, binds a small protocol to it with a parameter (the
// number of frames), sets its packet filter, reads its address and link
// state, sends broadcast frames through it in batches, has an operator
// reset it half-way (the protocol sees NDIS_STATUS_RESET_START and
// NDIS_STATUS_RESET_END), and prints what came back and what the protocol
// reports of itself. The runtime logs every adapter event to stderr.
//
//	go run ./examples/loopback
//
// It exits 0 when every frame was accounted for, 1 otherwise.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
)

const (
	adapterName = "loop0"
	totalFrames = 10_000 // the counter's "frames" parameter
	batchSize   = 64     // NBLs per send, one frame each
	inFlight    = 4      // batches in flight at once
	etherType   = 0x88B5
	minFrame    = 60 // Ethernet minimum, without the FCS
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "loopback example: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rt := ndis.New(ndis.WithLogger(log))
	closed := false
	defer func() {
		if !closed { // an early return: take the adapter down anyway
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = rt.Close(ctx)
		}
	}()

	if err := rt.RegisterMiniportDriver(loopback.Driver()); err != nil {
		return err
	}
	if err := rt.RegisterProtocolDriver(counterDriver()); err != nil {
		return err
	}
	a, err := rt.AddAdapter(ctx, adapterName, "loopback", nil)
	if err != nil {
		return err
	}
	// The binding's parameters are NDIS_BIND_PARAMETERS' registry keywords.
	b, err := rt.Bind(ctx, "counter", adapterName,
		ndis.BindParams(map[string]string{"frames": strconv.Itoa(totalFrames)}))
	if err != nil {
		return err
	}
	p := b.ProtocolContext().(*counter) // what the counter's BindAdapter returned

	if s := b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected | ndis.PacketTypeBroadcast)}); s != ndis.StatusSuccess {
		return fmt.Errorf("set %s: %w", ndis.OIDGenCurrentPacketFilter, s)
	}
	addr, err := query(ctx, b, ndis.OID8023CurrentAddress, 6)
	if err != nil {
		return err
	}
	mac := ndis.MacAddress(addr)
	raw, err := query(ctx, b, ndis.OIDGenLinkState, ndis.LinkStateSize)
	if err != nil {
		return err
	}
	link, s := ndis.ParseLinkState(raw)
	if s != ndis.StatusSuccess {
		return fmt.Errorf("%s: %w", ndis.OIDGenLinkState, s)
	}
	fmt.Printf("%s: address %s, link %s, %s duplex, %s\n", adapterName, mac, link.MediaConnectState,
		duplex(link.MediaDuplexState), speed(link.XmitLinkSpeed))

	// Send, with an operator reset half-way.
	fmt.Printf("sending %d broadcast frames in batches of %d\n", p.frames, batchSize)
	resetRequested := false
	for seq := 0; seq < p.frames; seq += batchSize {
		if seq >= p.frames/2 && !resetRequested {
			resetRequested = true
			fmt.Printf("operator: resetting %s after %d frames\n", adapterName, seq)
			if err := rt.ResetAdapter(adapterName); err != nil {
				return err
			}
		}
		if err := p.sendBatch(ctx, mac, seq, min(batchSize, p.frames-seq)); err != nil {
			return err
		}
	}
	if err := p.waitIdle(ctx); err != nil {
		return err
	}
	select {
	case <-p.resetEnd:
	case <-ctx.Done():
		return errors.New("no NDIS_STATUS_RESET_END reached the protocol")
	}
	xmitOK, err := query(ctx, b, ndis.OIDGenXmitOK, 8)
	if err != nil {
		return err
	}
	rcvOK, err := query(ctx, b, ndis.OIDGenRcvOK, 8)
	if err != nil {
		return err
	}

	// Close removes the adapter: its pause waits for the last receives.
	if err := rt.Close(ctx); err != nil {
		return err
	}
	closed = true
	return p.summary(a.Stats(), le64(xmitOK), le64(rcvOK), b.Details())
}

// query asks the adapter for an OID and returns the answer.
func query(ctx context.Context, b *ndis.Binding, oid ndis.OID, size int) ([]byte, error) {
	r := &ndis.OidRequest{Type: ndis.RequestQuery, OID: oid, Buffer: make([]byte, size)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		return nil, fmt.Errorf("query %s: %w", oid, s)
	}
	return r.Buffer[:r.BytesWritten], nil
}

// counter is the example's protocol: it sends numbered broadcast frames,
// checks and counts what comes back, and reports the reset indications.
type counter struct {
	b        *ndis.Binding
	frames   int           // frames to send: the "frames" parameter
	pool     *ndis.Pool    // send NBLs
	slots    chan struct{} // one per batch in flight
	resetEnd chan struct{} // closed at the first RESET_END

	mu       sync.Mutex
	byStatus map[ndis.Status]int // completions by status

	sent, completed, received, malformed atomic.Uint64
	resetStarts, resetEnds               atomic.Uint64
	resetStatus                          atomic.Uint32
}

// batch is one send of the counter: its NBLs go back to the pool together.
type batch struct {
	nbls      []*ndis.NetBufferList
	remaining atomic.Int32
}

// The counter's handlers: a Protocol that reports its counters.
var (
	_ ndis.Protocol = (*counter)(nil)
	_ ndis.Reporter = (*counter)(nil)
)

func newCounter(b *ndis.Binding, frames int) *counter {
	return &counter{
		b:        b,
		frames:   frames,
		pool:     ndis.NewPool(minFrame, inFlight*batchSize),
		slots:    make(chan struct{}, inFlight),
		resetEnd: make(chan struct{}),
		byStatus: make(map[ndis.Status]int),
	}
}

// counterDriver returns the counter's protocol driver. Its one parameter,
// "frames", is checked by ValidateParams before anything is bound, and read
// again by BindAdapter: a bad value is a *ndis.ParamError either way.
func counterDriver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: "counter",
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			n, err := parseFrames(b.Params())
			if err != nil {
				return nil, err
			}
			return newCounter(b, n), nil
		},
		ValidateParams: func(params map[string]string) error {
			_, err := parseFrames(params)
			return err
		},
	}
}

// parseFrames reads the counter's parameters: "frames", from 1 to 1000000
// (default 10000), and nothing else.
func parseFrames(params map[string]string) (int, error) {
	n := totalFrames
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if k != "frames" {
			return 0, &ndis.ParamError{Driver: "counter", Key: k, Value: v, Reason: "unknown parameter; counter takes frames"}
		}
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1_000_000 {
			return 0, &ndis.ParamError{Driver: "counter", Key: k, Value: v, Reason: "want an integer from 1 to 1000000"}
		}
	}
	return n, nil
}

// sendBatch sends n numbered frames from seq on, once a batch slot is free.
func (p *counter) sendBatch(ctx context.Context, src ndis.MacAddress, seq, n int) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for send completions: %w", ctx.Err())
	}
	chain, got := p.pool.Get(n)
	if got != n {
		return fmt.Errorf("send pool exhausted: %d of %d NBLs", got, n)
	}
	bt := &batch{nbls: make([]*ndis.NetBufferList, 0, n)}
	bt.remaining.Store(int32(n))
	for x := chain; x != nil; x = x.Next {
		f := x.Frames[0]
		copy(f, ndis.BroadcastAddress[:])
		copy(f[6:], src[:])
		binary.BigEndian.PutUint16(f[12:], etherType)
		clear(f[ndis.EthernetHeaderSize:])
		copy(f[ndis.EthernetHeaderSize:], fmt.Sprintf("gondis loopback frame %d", seq))
		x.ProtocolReserved = bt
		bt.nbls = append(bt.nbls, x)
		seq++
	}
	p.sent.Add(uint64(n))
	p.b.SendNetBufferLists(chain)
	return nil
}

// waitIdle waits for every batch to complete.
func (p *counter) waitIdle(ctx context.Context) error {
	for range inFlight {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for send completions: %w", ctx.Err())
		}
	}
	return nil
}

func (p *counter) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	p.mu.Lock()
	for x := l; x != nil; x = x.Next {
		p.byStatus[x.Status]++
	}
	p.mu.Unlock()
	for x := l; x != nil; {
		next := x.Next
		p.completed.Add(1)
		bt := x.ProtocolReserved.(*batch)
		if bt.remaining.Add(-1) == 0 {
			p.pool.Put(ndis.Chain(bt.nbls...))
			<-p.slots
		}
		x = next
	}
}

func (p *counter) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			if len(f) >= minFrame && ndis.MacAddress(f[:6]) == ndis.BroadcastAddress && binary.BigEndian.Uint16(f[12:]) == etherType {
				p.received.Add(1)
			} else {
				p.malformed.Add(1)
			}
		}
	}
	if flags&ndis.ReceiveFlagResources == 0 { // a lent chain is not ours to return
		p.b.ReturnNetBufferLists(l)
	}
}

func (p *counter) Status(code ndis.Status, payload []byte) {
	switch code {
	case ndis.StatusResetStart:
		p.resetStarts.Add(1)
		fmt.Printf("protocol: %s\n", code)
	case ndis.StatusResetEnd:
		s := ndis.StatusFailure
		if len(payload) >= 4 {
			s = ndis.Status(binary.LittleEndian.Uint32(payload))
		}
		p.resetStatus.Store(uint32(s))
		fmt.Printf("protocol: %s (%s)\n", code, s)
		if p.resetEnds.Add(1) == 1 {
			close(p.resetEnd)
		}
	default:
		fmt.Printf("protocol: status %s\n", code)
	}
}

// Report implements ndis.Reporter: what programs show of the protocol
// (the gondis daemon, in its status and metrics; this one, in its summary).
func (p *counter) Report() []ndis.Detail {
	counter := func(name, help string, v uint64) ndis.Detail {
		return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailCounter, Value: float64(v)}
	}
	return []ndis.Detail{
		counter("sent", "frames sent", p.sent.Load()),
		counter("completed", "sends completed", p.completed.Load()),
		counter("received", "frames received intact", p.received.Load()),
		counter("malformed", "frames received altered", p.malformed.Load()),
		counter("reset_ends", "RESET_END indications", p.resetEnds.Load()),
	}
}

// summary prints what happened and checks that every frame is accounted for.
func (p *counter) summary(st ndis.AdapterStats, xmitOK, rcvOK uint64, details []ndis.Detail) error {
	p.mu.Lock()
	statuses := make([]ndis.Status, 0, len(p.byStatus))
	for s := range p.byStatus {
		statuses = append(statuses, s)
	}
	sort.Slice(statuses, func(i, j int) bool { return p.byStatus[statuses[i]] > p.byStatus[statuses[j]] })
	ok := uint64(p.byStatus[ndis.StatusSuccess])
	fmt.Println("summary:")
	fmt.Printf("  frames sent       %6d\n", p.sent.Load())
	fmt.Printf("  completed         %6d\n", p.completed.Load())
	for _, s := range statuses {
		fmt.Printf("    %-30s %6d\n", s, p.byStatus[s])
	}
	p.mu.Unlock()
	fmt.Printf("  received          %6d  (+%d looped back during the reset, returned by NDIS undelivered)\n",
		p.received.Load(), st.ReceiveDuringReset)
	fmt.Printf("  resets            %6d  (RESET_START %d, RESET_END %d: %s)\n", st.Resets[ndis.CauseOperator].Performed,
		p.resetStarts.Load(), p.resetEnds.Load(), ndis.Status(p.resetStatus.Load()))
	fmt.Printf("  miniport counters OID_GEN_XMIT_OK %d, OID_GEN_RCV_OK %d\n", xmitOK, rcvOK)
	fmt.Print("  protocol reports ")
	for i, d := range details {
		if i > 0 {
			fmt.Print(", ")
		}
		fmt.Printf("%s %v", d.Name, d.Value)
	}
	fmt.Println()

	var problems []error
	if p.sent.Load() != uint64(p.frames) {
		problems = append(problems, fmt.Errorf("%d frames sent, want %d", p.sent.Load(), p.frames))
	}
	if p.completed.Load() != p.sent.Load() {
		problems = append(problems, fmt.Errorf("%d frames sent, %d completed", p.sent.Load(), p.completed.Load()))
	}
	if got := p.received.Load() + st.ReceiveDuringReset; got != ok {
		problems = append(problems, fmt.Errorf("%d frames sent successfully, %d came back", ok, got))
	}
	if p.malformed.Load() != 0 {
		problems = append(problems, fmt.Errorf("%d frames came back altered", p.malformed.Load()))
	}
	if p.resetStarts.Load() != 1 || p.resetEnds.Load() != 1 {
		problems = append(problems, fmt.Errorf("%d RESET_START and %d RESET_END, want 1 each", p.resetStarts.Load(), p.resetEnds.Load()))
	}
	if s := ndis.Status(p.resetStatus.Load()); s != ndis.StatusSuccess {
		problems = append(problems, fmt.Errorf("the reset ended with %s", s))
	}
	if st.Violations != 0 {
		problems = append(problems, fmt.Errorf("%d verifier violations (see the log)", st.Violations))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}
	fmt.Println("ok: every frame accounted for")
	return nil
}

func le64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func duplex(d ndis.MediaDuplexState) string {
	switch d {
	case ndis.MediaDuplexStateFull:
		return "full"
	case ndis.MediaDuplexStateHalf:
		return "half"
	}
	return "unknown"
}

func speed(bps uint64) string {
	switch {
	case bps == ndis.LinkSpeedUnknown:
		return "speed unknown"
	case bps >= 1e9 && bps%1e9 == 0:
		return fmt.Sprintf("%d Gb/s", bps/1e9)
	case bps >= 1e6 && bps%1e6 == 0:
		return fmt.Sprintf("%d Mb/s", bps/1e6)
	}
	return fmt.Sprintf("%d b/s", bps)
}
