package ndistest_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// testHangReset is a test as it is written in a _test.go file, where t is
// the test's *testing.T: a fake miniport that reports a hang is reset, and
// the recording protocol bound to it hears RESET_START and RESET_END
// around the reset, with its packet filter restored in between.
func testHangReset(t ndistest.TB) {
	ctx := context.Background()
	clk := ndistest.NewFakeClock() // the runtime's timers move only when the test says
	v := ndistest.NewVerifier(t)   // any verifier violation fails the test
	rt := ndis.New(append(v.Options(), ndis.WithClock(clk))...)

	fake := ndistest.NewFake()
	fake.Registration = &ndis.RegistrationAttributes{CheckForHangTimeInSeconds: 4}
	fake.ResetAddressing = true // Reset asks the runtime to restore the filters
	rec := ndistest.NewRecorderDriver("rec")
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatalf("RegisterMiniportDriver: %v", err)
	}
	if err := rt.RegisterProtocolDriver(rec.Driver()); err != nil {
		t.Fatalf("RegisterProtocolDriver: %v", err)
	}
	a, err := rt.AddAdapter(ctx, "eth0", "fake", nil)
	if err != nil {
		t.Fatalf("AddAdapter: %v", err)
	}
	b, err := rt.Bind(ctx, "rec", "eth0")
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	r := rec.Binding(b)
	set := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(ndis.PacketTypeBroadcast)}
	if s := b.OidRequest(ctx, set); s != ndis.StatusSuccess {
		t.Fatalf("set packet filter: %v", s)
	}

	// The fake completes sends inline and indicates what the test gives it.
	b.SendNetBufferLists(ndis.NewNetBufferList(make([]byte, 60)))
	frame := make([]byte, 60)
	copy(frame, ndis.BroadcastAddress[:])
	fake.Indicate(0, frame)

	// One check-for-hang period later the fake reports a hang.
	fake.Hung.Store(true)
	clk.WaitTimers(t, 1) // the adapter's tick is armed
	clk.Advance(a.CheckForHangPeriod())
	r.WaitStatus(t, ndis.StatusResetEnd, 1)
	fake.Hung.Store(false)

	if err := rt.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pairs, open, err := r.CheckResetPairs()
	if err != nil || open {
		t.Errorf("reset indications: %d pairs, open %v, %v", pairs, open, err)
	}
	fmt.Println("sent", r.Completed(), "received", r.Received(), "reset pairs", pairs)
	fmt.Println("protocol heard:", r.Statuses())
	fmt.Println("miniport calls:", strings.Join(fake.Calls(), " "))
	var kinds []string
	for _, x := range r.Records() {
		kinds = append(kinds, x.Kind.String())
	}
	fmt.Println("protocol records:", strings.Join(kinds, " "))
}

// exampleT stands in for the *testing.T of a real test: both satisfy
// ndistest.TB.
type exampleT struct{}

func (exampleT) Helper()                        {}
func (exampleT) Errorf(format string, a ...any) { fmt.Printf("error: "+format+"\n", a...) }
func (exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// A test of a reset with the fake clock, the fake miniport, the recording
// protocol and the verifier.
func Example() {
	testHangReset(exampleT{})
	// Output:
	// sent 1 received 1 reset pairs 1
	// protocol heard: [NDIS_STATUS_RESET_START NDIS_STATUS_RESET_END]
	// miniport calls: Initialize Restart OidRequest:OID_GEN_CURRENT_PACKET_FILTER CheckForHang Reset OidRequest:OID_GEN_CURRENT_PACKET_FILTER Pause Halt:NdisHaltDeviceDisabled
	// protocol records: complete receive status status unbind
}
