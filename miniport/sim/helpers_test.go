package sim_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// waitLimit bounds the tests' own waits (ndistest's helpers have theirs).
const waitLimit = 10 * time.Second

// Stations the tests' frames come from or go to, beside the devices' own.
var (
	otherMAC = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x99}
	mcastIn  = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	mcastIn2 = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x03}
	mcastOut = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x02}
)

// env is one test's runtime: a strict verifier, a recording protocol "rec",
// the sim driver, and a fake clock unless the test runs on the wall clock.
type env struct {
	t   *testing.T
	rt  *ndis.Runtime
	v   *ndistest.Verifier
	clk *ndistest.FakeClock // nil: the wall clock
	rec *ndistest.RecorderDriver

	mu     sync.Mutex
	events map[ndis.EventKind]int // how many of each kind the runtime reported
}

// newEnv returns a runtime closed when the test ends. With fake, the
// runtime and the sim run on one fake clock.
func newEnv(t *testing.T, fake bool, opts ...ndis.Option) *env {
	t.Helper()
	e := &env{t: t, v: ndistest.NewVerifier(t), rec: ndistest.NewRecorderDriver("rec"), events: make(map[ndis.EventKind]int)}
	all := append(e.v.Options(), ndis.WithEventHandler(e.event))
	var so sim.Options
	if fake {
		e.clk = ndistest.NewFakeClock()
		all = append(all, ndis.WithClock(e.clk))
		so.Clock = e.clk
	}
	e.rt = ndis.New(append(all, opts...)...)
	if err := e.rt.RegisterMiniportDriver(sim.DriverWith(so)); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RegisterProtocolDriver(e.rec.Driver()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := e.rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func (e *env) event(ev ndis.Event) {
	e.mu.Lock()
	e.events[ev.Kind]++
	e.mu.Unlock()
}

func (e *env) eventCount(kind ndis.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events[kind]
}

// add adds a sim adapter and returns it with its device.
func (e *env) add(name string, params map[string]string) (*ndis.Adapter, *sim.Device) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	a, err := e.rt.AddAdapter(ctx, name, "sim", params)
	if err != nil {
		e.t.Fatal(err)
	}
	d, ok := sim.DeviceOf(a)
	if !ok {
		e.t.Fatalf("DeviceOf(%s): no device", name)
	}
	return a, d
}

// bind binds the recorder to the adapter.
func (e *env) bind(adapter string) *ndistest.Recorder {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	b, err := e.rt.Bind(ctx, "rec", adapter)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.rec.Binding(b)
}

// up adds adapter "sim0" with params, binds the recorder to it and sets
// the binding's packet filter to directed: where most tests start.
func (e *env) up(params map[string]string) (*ndis.Adapter, *sim.Device, *ndistest.Recorder) {
	e.t.Helper()
	a, d := e.add("sim0", params)
	r := e.bind("sim0")
	ndistest.MustSetPacketFilter(e.t, r.B, ndis.PacketTypeDirected)
	return a, d, r
}

// reset resets the adapter (an operator's reset) and fails the test if the
// runtime refuses.
func (e *env) reset(adapter string) {
	e.t.Helper()
	if err := e.rt.ResetAdapter(adapter); err != nil {
		e.t.Fatal(err)
	}
}

// advance moves the fake clock by d and then waits until cond holds.
func (e *env) advance(d time.Duration, what string, cond func() bool) {
	e.t.Helper()
	e.clk.Advance(d)
	ndistest.Eventually(e.t, cond, "%s", what)
}

// wireName returns a wire name unique to the test.
func wireName(t *testing.T) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
}

// frame builds a numbered Ethernet frame of n bytes (n >= 18) from src to
// dst. Its EtherType is not the one of the sim's storm frames.
func frame(dst, src ndis.MacAddress, seq uint32, n int) []byte {
	return ndistest.Ethernet(dst, src, 0x88B6, ndistest.Numbered(seq, n-ndis.EthernetHeaderSize))
}

// send sends one NBL per frame, as one chain, and returns the NBLs.
func send(r *ndistest.Recorder, frames ...[]byte) []*ndis.NetBufferList {
	ls := make([]*ndis.NetBufferList, len(frames))
	for i, f := range frames {
		ls[i] = ndis.NewNetBufferList(f)
	}
	r.B.SendNetBufferLists(ndis.Chain(ls...))
	return ls
}

// frames returns n frames from src to dst, numbered from first.
func frames(dst, src ndis.MacAddress, first uint32, n, size int) [][]byte {
	fs := make([][]byte, n)
	for i := range fs {
		fs[i] = frame(dst, src, first+uint32(i), size)
	}
	return fs
}

func waitCompleted(t *testing.T, r *ndistest.Recorder, n int) {
	t.Helper()
	ndistest.Eventually(t, func() bool { return r.Completed() >= n }, "%d completions (have %d)", n, r.Completed())
}

func waitReceived(t *testing.T, r *ndistest.Recorder, n int) {
	t.Helper()
	ndistest.Eventually(t, func() bool { return r.Received() >= n }, "%d receives", n)
}

// resetEnd waits for the n-th RESET_END and returns its status.
func resetEnd(t *testing.T, r *ndistest.Recorder, n int) ndis.Status {
	t.Helper()
	rec := r.WaitStatus(t, ndis.StatusResetEnd, n)
	s, ok := ndistest.ResetEndStatus(rec.Payload)
	if !ok {
		t.Fatalf("RESET_END payload %x", rec.Payload)
	}
	return s
}

// wantResetEnd waits for the n-th RESET_END and fails the test unless it
// carries want.
func wantResetEnd(t *testing.T, r *ndistest.Recorder, n int, want ndis.Status) {
	t.Helper()
	if s := resetEnd(t, r, n); s != want {
		t.Fatalf("RESET_END %d: %s, want %s", n, s, want)
	}
}

// stuckQuery has the device hold the next OID request and queries oid on
// a goroutine of its own; the status arrives on the channel once something
// ends the request.
func stuckQuery(t *testing.T, r *ndistest.Recorder, d *sim.Device, oid ndis.OID) <-chan ndis.Status {
	t.Helper()
	d.Inject(sim.FaultStuckOid)
	done := make(chan ndis.Status, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_, s := ndistest.Query(ctx, r.B, oid, 8)
		done <- s
	}()
	ndistest.Eventually(t, func() bool { return d.Stats().OidsStuck == 1 }, "the OID held")
	return done
}

// linkStates returns the media connect states of the recorder's link
// indications, in order.
func linkStates(r *ndistest.Recorder) []ndis.MediaConnectState {
	var out []ndis.MediaConnectState
	for _, x := range r.Records() {
		if x.Kind == ndistest.RecordStatus && x.Status == ndis.StatusLinkState {
			ls, s := ndis.ParseLinkState(x.Payload)
			if s != ndis.StatusSuccess {
				panic(fmt.Sprintf("bad link state payload %x", x.Payload))
			}
			out = append(out, ls.MediaConnectState)
		}
	}
	return out
}

// checkTraffic sends n frames to the adapter's own address through a
// looped-back adapter and checks that they complete and come back intact.
func checkTraffic(t *testing.T, r *ndistest.Recorder, d *sim.Device, seq uint32, n int) {
	t.Helper()
	fs := frames(d.MAC(), d.MAC(), seq, n, 100)
	before, rx, ok := r.Completed(), r.Received(), r.CompletedByStatus()[ndis.StatusSuccess]
	send(r, fs...)
	waitCompleted(t, r, before+n)
	if got := r.CompletedByStatus()[ndis.StatusSuccess] - ok; got != n {
		t.Fatalf("after recovery: %d of %d sends succeeded", got, n)
	}
	waitReceived(t, r, rx+n)
	got := r.ReceivedFrames()[rx:]
	for i, f := range fs {
		if string(got[i]) != string(f) {
			t.Fatalf("after recovery: frame %d differs", i)
		}
	}
}
