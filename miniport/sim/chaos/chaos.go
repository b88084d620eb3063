// Package chaos is the soak that proves recovery: traffic both ways across
// a pair of sim adapters with several bindings, OID requests in flight,
// pause and restart cycles, operator resets, and every fault of the sim
// device injected at random from a seed, with the runtime's invariants
// checked as it runs and at the end. Run is the soak for programs;
// `go test ./miniport/sim -run Chaos` runs it at CI size (5,000 resets).
//
// A soak's size is a count, never a rate: it runs until its resets have
// been performed, however busy the machine, and reports how fast it went
// as information. Only the end of Run's context stops it short, and that
// is a problem in the report: the context's deadline is there to catch a
// hang. The test sizes the soak from the environment:
//
//	GONDIS_CHAOS_RESETS    the soak's size: resets to perform (default 5,000)
//	GONDIS_CHAOS_DURATION  a soak length for long runs, as a Go duration:
//	                       the soak also runs at least this long (default:
//	                       the count alone); it must fit in the test's
//	                       -timeout
//	GONDIS_CHAOS_SEED      the seed of a run to replay; every run prints its
//	                       seed
//
// The test's -timeout bounds the soak: its deadline, less the time the soak
// needs to stop and report, is the hang deadline (10 minutes without one).
package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
)

// Config sizes a soak: it runs until Resets resets were performed and,
// with Duration, for at least Duration too. Neither is a bound on time:
// Run's context is.
type Config struct {
	Seed     uint64        // the seed of every random choice; 0: from the time
	Resets   int           // the soak's size: resets to perform (default 5,000)
	Duration time.Duration // a soak length for long runs: run at least this long as well (default 0: the count alone)
	Logger   *slog.Logger  // the runtime's logger (default: discard)
}

// Report is what a soak saw. Err says whether every invariant held.
type Report struct {
	Seed        uint64
	Target      int                                    // the resets the soak was to perform (Config.Resets)
	Elapsed     time.Duration                          // the whole run, set-up and tear-down included
	Resets      map[ndis.ResetCause]ndis.ResetCounters // summed over the adapters
	Escalations []string                               // "adapter: why", for every adapter that failed
	Faults      map[sim.FaultKind]uint64               // faults fired, over the devices

	FramesSent     uint64 // NBLs the bindings sent
	FramesReceived uint64 // NBLs the bindings received
	Completed      uint64 // NBLs that came back to their sender
	Lost           uint64 // sent and never completed (must be 0)
	Duplicated     uint64 // completed more than once, or to another binding (must be 0)
	LongestReset   time.Duration
	Violations     map[string]int // every verifier finding, by rule
	Problems       []string       // broken invariants; empty when the soak passed
}

// Err returns nil when every invariant held, else an error listing what
// broke.
func (r *Report) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return errors.New("chaos: " + strings.Join(r.Problems, "; "))
}

// Performed returns the resets performed, over every cause.
func (r *Report) Performed() uint64 {
	var n uint64
	for _, rc := range r.Resets {
		n += rc.Performed
	}
	return n
}

// Rate returns the resets performed per second of the run: a measure of
// the machine as much as of the runtime, never a pass or a fail.
func (r *Report) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Performed()) / r.Elapsed.Seconds()
}

// String is the soak's summary.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos soak, seed %d, %s\n", r.Seed, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "  %d of %d resets, %.0f a second (for information)\n", r.Performed(), r.Target, r.Rate())
	fmt.Fprintf(&b, "  resets by cause:")
	var total, coalesced, dropped, failed uint64
	for _, c := range ndis.ResetCauses() {
		rc := r.Resets[c]
		fmt.Fprintf(&b, " %s %d", c, rc.Performed)
		total += rc.Performed
		coalesced += rc.Coalesced
		dropped += rc.Dropped
		failed += rc.Failed
	}
	fmt.Fprintf(&b, " (total %d; coalesced %d, dropped %d, failed %d)\n", total, coalesced, dropped, failed)
	fmt.Fprintf(&b, "  escalations: %d %v\n", len(r.Escalations), r.Escalations)
	kinds := make([]string, 0, len(r.Faults))
	for k, n := range r.Faults {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "  faults fired: %s\n", strings.Join(kinds, ", "))
	fmt.Fprintf(&b, "  frames sent %d, received %d; completions %d, lost %d, duplicated %d\n",
		r.FramesSent, r.FramesReceived, r.Completed, r.Lost, r.Duplicated)
	fmt.Fprintf(&b, "  longest RESET_START→RESET_END %s\n", r.LongestReset)
	fmt.Fprintf(&b, "  verifier findings %v\n", r.Violations)
	if len(r.Problems) == 0 {
		b.WriteString("  every invariant held\n")
	} else {
		fmt.Fprintf(&b, "  BROKEN: %s\n", strings.Join(r.Problems, "; "))
	}
	return b.String()
}

// soak is one run.
type soak struct {
	cfg  Config
	rt   *ndis.Runtime
	rng  *rand.Rand
	rngM sync.Mutex

	mu          sync.Mutex
	problems    []string
	violations  map[string]int
	escalations []string

	protos []*proto
	watch  watchCounters
}

func (s *soak) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *soak) intn(n int) int {
	s.rngM.Lock()
	defer s.rngM.Unlock()
	return s.rng.IntN(n)
}

// Run runs a soak until its size is reached (Config). It returns an error
// only when the soak could not be set up; broken invariants are in the
// report (Report.Err). When ctx ends first, the soak stops, winds down and
// reports that it was cut short: give ctx a deadline to catch a hang, and
// leave Run a minute beyond it to stop the load, let the adapters settle
// and close the runtime.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.Resets <= 0 {
		cfg.Resets = 5000
	}
	cfg.Duration = max(cfg.Duration, 0)
	s := &soak{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)), violations: make(map[string]int)}
	opts := []ndis.Option{
		ndis.WithVerifier(ndis.VerifierLog),
		ndis.WithViolationHandler(s.violation),
		ndis.WithCheckForHangInterval(10 * time.Millisecond),
		// A pending reset ends within slowFor; only a hang takes longer
		// than this, however busy the machine.
		ndis.WithResetTimeout(10 * time.Second),
		ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: 4}),
		ndis.WithEventHandler(s.event),
	}
	if cfg.Logger != nil {
		opts = append(opts, ndis.WithLogger(cfg.Logger))
	}
	s.rt = ndis.New(opts...)
	if err := s.rt.RegisterMiniportDriver(s.watched(sim.Driver())); err != nil {
		return nil, err
	}
	if err := s.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "chaos", BindAdapter: s.bind}); err != nil {
		return nil, err
	}
	start := time.Now()
	report, err := s.run(ctx)
	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cerr := s.rt.Close(closeCtx); cerr != nil {
		s.problem("Close: %v", cerr)
	}
	if err != nil {
		return nil, err
	}
	report.Elapsed = time.Since(start)
	report.Target = cfg.Resets
	s.finish(report)
	return report, nil
}

func (s *soak) violation(v ndis.Violation) {
	s.mu.Lock()
	s.violations[v.Rule]++
	s.mu.Unlock()
	// No fault of this soak breaks a rule by design under its limits (see
	// sim.Fault.Provokes): every finding is a problem.
	s.problem("verifier: %s", v)
}

func (s *soak) event(ev ndis.Event) {
	switch ev.Kind {
	case ndis.EventFailed: // escalation, a reset time-out, RemoveMiniport
		s.mu.Lock()
		s.escalations = append(s.escalations, ev.Adapter+": "+ev.Detail)
		s.mu.Unlock()
	}
}

const (
	sendTimeout = 100 * time.Millisecond
	flapFor     = 5 * time.Millisecond
	slowFor     = 20 * time.Millisecond
)

// run sets up the pair, runs the load and the chaos until the soak's size
// is reached or ctx ends, then quiesces and checks. Nothing after the soak
// waits on ctx: it may have ended.
func (s *soak) run(ctx context.Context) (*Report, error) {
	// The soak registers a sim driver of its own, whose wires no other
	// adapter is on.
	params := map[string]string{"wire": "chaos", "send_timeout": sendTimeout.String(), "tx_ring": "64", "rx_ring": "128"}
	var adapters []*ndis.Adapter
	var devices []*sim.Device
	for _, name := range []string{"chaos-a", "chaos-b"} {
		a, err := s.rt.AddAdapter(ctx, name, "sim", params)
		if err != nil {
			return nil, err
		}
		d, ok := sim.DeviceOf(a)
		if !ok {
			return nil, fmt.Errorf("chaos: no sim device for %s", name)
		}
		adapters, devices = append(adapters, a), append(devices, d)
	}
	if err := s.drill(ctx); err != nil {
		return nil, err
	}
	for i, a := range adapters {
		peer := devices[1-i].MAC()
		for range 2 {
			b, err := s.rt.Bind(ctx, "chaos", a.Name())
			if err != nil {
				return nil, err
			}
			p := b.ProtocolContext().(*proto)
			p.dst = peer
			s.setFilter(ctx, p)
		}
	}

	stopLoad, stopChaos := make(chan struct{}), make(chan struct{})
	var load, chaos sync.WaitGroup
	for _, p := range s.protos {
		load.Go(func() { p.sender(stopLoad) })
	}
	load.Go(func() { s.oids(stopLoad) })
	chaos.Go(func() { s.pauses(stopChaos, adapters) })
	chaos.Go(func() { s.faults(stopChaos, devices) })
	chaos.Go(func() { s.operator(stopChaos, adapters) })

	s.await(ctx, adapters)
	close(stopChaos)
	chaos.Wait()
	for _, d := range devices {
		for _, k := range sim.FaultKinds() {
			if err := d.SetFault(sim.Fault{Kind: k}); err != nil {
				s.problem("clearing %s: %v", k, err)
			}
		}
	}
	// Let the last resets end and the adapters run again.
	settle := time.Now().Add(10 * time.Second)
	for _, a := range adapters {
		for a.State() != ndis.AdapterRunning || s.resetOpen(a) {
			if time.Now().After(settle) {
				s.problem("adapter %s did not settle: %s", a.Name(), a.State())
				break
			}
			if a.State() == ndis.AdapterPaused {
				_ = s.rt.RestartAdapter(context.Background(), a.Name())
			}
			time.Sleep(time.Millisecond)
		}
	}
	close(stopLoad)
	load.Wait()

	r := &Report{Seed: s.cfg.Seed, Resets: make(map[ndis.ResetCause]ndis.ResetCounters), Faults: make(map[sim.FaultKind]uint64)}
	for _, a := range adapters {
		for c, rc := range a.Stats().Resets {
			sum := r.Resets[c]
			sum.Requested += rc.Requested
			sum.Coalesced += rc.Coalesced
			sum.Dropped += rc.Dropped
			sum.Performed += rc.Performed
			sum.Failed += rc.Failed
			sum.MaxDuration = max(sum.MaxDuration, rc.MaxDuration)
			r.Resets[c] = sum
			r.LongestReset = max(r.LongestReset, rc.MaxDuration)
		}
	}
	for i, d := range devices {
		// Every received NBL comes back to the miniport, once the frames
		// still on the wire when the load stopped have been received.
		st, ndisSt := d.Stats(), adapters[i].Stats()
		for quiet := time.Now().Add(10 * time.Second); st.RxHeld != 0 || ndisSt.ReceivedNBLs != ndisSt.ReturnedNBLs; {
			if time.Now().After(quiet) {
				s.problem("%s: %d receive NBLs held, %d indicated, %d returned", d.Name(), st.RxHeld, ndisSt.ReceivedNBLs, ndisSt.ReturnedNBLs)
				break
			}
			time.Sleep(time.Millisecond)
			st, ndisSt = d.Stats(), adapters[i].Stats()
		}
		for k, n := range st.Fired {
			r.Faults[k] += n
		}
		// After every restore the hardware holds what the bindings set.
		if want := s.union(adapters[i]); !d.Filter().Equal(want) {
			s.problem("%s: hardware filter %+v, the bindings set %+v", d.Name(), d.Filter(), want)
		}
	}
	return r, nil
}

// await returns once the soak's size is reached: its resets performed and,
// with a Duration, that long soaked. When ctx ends first, the soak is cut
// short, which is a problem: the deadline is there to catch a hang.
func (s *soak) await(ctx context.Context, as []*ndis.Adapter) {
	start := time.Now()
	sized := func() bool {
		return s.performed(as) >= uint64(s.cfg.Resets) && time.Since(start) >= s.cfg.Duration
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !sized() {
		select {
		case <-ctx.Done():
			if !sized() {
				s.problem("cut short (%v) after %d of %d resets in %s: hung?",
					context.Cause(ctx), s.performed(as), s.cfg.Resets, time.Since(start).Round(time.Millisecond))
			}
			return
		case <-tick.C:
		}
	}
}

// performed counts the resets performed on the adapters.
func (s *soak) performed(as []*ndis.Adapter) uint64 {
	var n uint64
	for _, a := range as {
		for _, rc := range a.Stats().Resets {
			n += rc.Performed
		}
	}
	return n
}

// resetOpen reports whether a binding of the adapter is between RESET_START
// and RESET_END.
func (s *soak) resetOpen(a *ndis.Adapter) bool {
	for _, p := range s.protos {
		if p.b.Adapter().Name() == a.Name() && p.inReset.Load() {
			return true
		}
	}
	return false
}

// union is what the adapter's hardware filter must hold: the union of its
// bindings' packet filters and multicast lists.
func (s *soak) union(a *ndis.Adapter) sim.Filter {
	var f sim.Filter
	for _, b := range a.Bindings() {
		f.PacketFilter |= b.PacketFilter()
		for _, m := range b.MulticastList() {
			if !slices.Contains(f.Multicast, m) {
				f.Multicast = append(f.Multicast, m)
			}
		}
	}
	f.Lookahead = s.hwLookahead(a)
	return f
}

// hwLookahead: the soak never sets the lookahead, so the hardware's stays
// what the device started with.
func (s *soak) hwLookahead(a *ndis.Adapter) uint32 {
	if d, ok := sim.DeviceOf(a); ok {
		return d.Filter().Lookahead
	}
	return 0
}

// drill fails an adapter on purpose: a device whose resets keep failing is
// escalated, halted with HaltDeviceFailed, and says why.
func (s *soak) drill(ctx context.Context) error {
	a, err := s.rt.AddAdapter(ctx, "chaos-drill", "sim", map[string]string{"send_timeout": sendTimeout.String()})
	if err != nil {
		return err
	}
	d, _ := sim.DeviceOf(a)
	if err := d.SetFault(sim.Fault{Kind: sim.FaultFailReset, Trigger: sim.TriggerOnce, Count: 100}); err != nil {
		return err
	}
	a.ResetMiniport() // the driver's request: operator resets do not escalate
	select {
	case <-a.Done():
	case <-ctx.Done():
		s.problem("the drill adapter did not escalate: %v", context.Cause(ctx))
		return nil
	}
	s.mu.Lock()
	found := false
	for _, e := range s.escalations {
		found = found || strings.HasPrefix(e, "chaos-drill: ")
	}
	s.mu.Unlock()
	if !found {
		s.problem("the drill adapter was halted without saying why")
	}
	// A failed adapter stays listed, Halted, with its reason, until removed.
	if got, ok := s.rt.Adapter("chaos-drill"); !ok || got.State() != ndis.AdapterHalted || got.FailureReason() == "" {
		s.problem("the escalated drill adapter is not listed as failed")
	}
	if err := s.rt.RemoveAdapter(ctx, "chaos-drill"); err != nil {
		s.problem("removing the failed drill adapter: %v", err)
	}
	if _, ok := s.rt.Adapter("chaos-drill"); ok {
		s.problem("the removed drill adapter is still known")
	}
	return nil
}

// pauses pauses and restarts a random adapter now and then.
func (s *soak) pauses(stop <-chan struct{}, as []*ndis.Adapter) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(20+s.intn(60)) * time.Millisecond):
		}
		a := as[s.intn(len(as))]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.rt.PauseAdapter(ctx, a.Name()); err != nil && !errors.Is(err, ndis.ErrInvalidState) {
			s.problem("pause %s: %v", a.Name(), err)
		}
		time.Sleep(time.Millisecond)
		if err := s.rt.RestartAdapter(ctx, a.Name()); err != nil && !errors.Is(err, ndis.ErrInvalidState) {
			s.problem("restart %s: %v", a.Name(), err)
		}
		cancel()
	}
}

// faults injects a random fault into a random device, every few
// milliseconds.
func (s *soak) faults(stop <-chan struct{}, ds []*sim.Device) {
	kinds := sim.FaultKinds()
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(1+s.intn(4)) * time.Millisecond):
		}
		d := ds[s.intn(len(ds))]
		f := sim.Fault{Kind: kinds[s.intn(len(kinds))], Trigger: sim.TriggerOnce}
		switch f.Kind {
		case sim.FaultSlowReset:
			f.For = slowFor
		case sim.FaultLinkFlap:
			f.For = flapFor
		case sim.FaultRxStorm:
			f.Frames = 64
		case sim.FaultFailReset:
			if s.intn(4) != 0 {
				continue // rarer: four in a row would fail the pair
			}
		}
		if err := d.SetFault(f); err != nil {
			s.problem("fault %s: %v", f.Kind, err)
		}
	}
}

// operator asks for resets as an operator would, to reach the soak's size.
func (s *soak) operator(stop <-chan struct{}, as []*ndis.Adapter) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(1+s.intn(3)) * time.Millisecond):
		}
		a := as[s.intn(len(as))]
		// A request while a reset runs is dropped, and says so.
		if err := s.rt.ResetAdapter(a.Name()); err != nil && !errors.Is(err, ndis.ErrResetInProgress) {
			s.problem("operator reset %s: %v", a.Name(), err)
		}
	}
}

var groups = []ndis.MacAddress{{1, 0, 0x5e, 0, 0, 1}, {1, 0, 0x5e, 0, 0, 2}, {1, 0, 0x5e, 0, 0, 3}}

// oids keeps OID requests in flight: each binding sets its packet filter
// and multicast list over and over.
func (s *soak) oids(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(1+s.intn(3)) * time.Millisecond):
		}
		p := s.protos[s.intn(len(s.protos))]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		s.setFilter(ctx, p)
		cancel()
	}
}

// setFilter sets a random filter that always takes the soak's directed and
// broadcast traffic, and a random multicast list.
func (s *soak) setFilter(ctx context.Context, p *proto) {
	pf := ndis.PacketTypeDirected | ndis.PacketTypeBroadcast | ndis.PacketTypeMulticast
	if s.intn(4) == 0 {
		pf |= ndis.PacketTypeAllMulticast
	}
	st := p.b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(pf)})
	s.checkOid(p, st)
	list := groups[:1+s.intn(len(groups))]
	st = p.b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: ndis.EncodeMulticastList(list)})
	s.checkOid(p, st)
}

func (s *soak) checkOid(p *proto, st ndis.Status) {
	switch st {
	case ndis.StatusSuccess, ndis.StatusResetInProgress, ndis.StatusRequestAborted, ndis.StatusClosing:
	default:
		s.problem("%s: OID request: %s", p.b.Adapter().Name(), st)
	}
}

func (s *soak) finish(r *Report) {
	s.mu.Lock()
	r.Escalations = append(r.Escalations, s.escalations...)
	r.Violations = make(map[string]int, len(s.violations))
	for k, v := range s.violations {
		r.Violations[k] = v
	}
	s.mu.Unlock()
	for _, p := range s.protos {
		r.FramesSent += p.sent.Load()
		r.FramesReceived += p.received.Load()
		r.Completed += p.completed.Load()
		r.Duplicated += p.duplicated.Load()
		if p.inReset.Load() {
			s.problem("%s: a binding was left between RESET_START and RESET_END", p.b.Adapter().Name())
		}
		p.mu.Lock()
		for _, e := range p.errs {
			s.problem("%s: %s", p.b.Adapter().Name(), e)
		}
		p.mu.Unlock()
	}
	r.Lost = r.FramesSent - r.Completed
	if r.Lost != 0 {
		s.problem("%d sends never completed", r.Lost)
	}
	if r.Duplicated != 0 {
		s.problem("%d completions duplicated or misrouted", r.Duplicated)
	}
	if n := s.watch.sendsInReset.Load(); n != 0 {
		s.problem("%d sends reached the miniport inside its Reset", n)
	}
	if n := s.watch.oidsInReset.Load(); n != 0 {
		s.problem("%d OID requests reached the miniport inside its Reset", n)
	}
	s.mu.Lock()
	r.Problems = append(r.Problems, s.problems...)
	s.mu.Unlock()
}
