// Package daemon hosts the adapters and bindings of a configuration in one
// ndis.Runtime: it registers the drivers of its table (drivers.go), adds
// the adapters, binds each binding with its parameters, keeps an event
// history for the CLI, samples packet rates, reports every adapter's and
// binding's status with their drivers' own details, and takes everything
// down in order on Close. A failed adapter stays in every list, Halted,
// with its reason.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/ndis"
)

// SampleInterval is how often the daemon samples packet counters for the
// per-second rates.
const SampleInterval = time.Second

// Daemon is a running configuration. Its methods are safe for concurrent
// use.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	rt      *ndis.Runtime
	drivers Drivers
	hist    *history
	hook    func(ndis.Event)

	mu       sync.Mutex
	adapters []*ndis.Adapter       // in configuration order, halted ones too
	rates    map[string][2]float64 // frames per second, tx and rx
	prev     map[string]tick       // frames at the last sample
	prevAt   time.Time             // when
	lastEnd  map[string]ndis.Event // the last RESET_END per adapter
	closed   bool                  // Close has begun
	stop     chan struct{}         // stops the sampler
	sampling sync.WaitGroup
}

// Option configures a Daemon.
type Option func(*Daemon)

// WithEventHook installs a function called for every runtime event, on the
// runtime's goroutines; it must not block. The metrics use it.
func WithEventHook(f func(ndis.Event)) Option { return func(d *Daemon) { d.hook = f } }

// WithDrivers makes the daemon register the drivers of t instead of
// Builtin(); its configuration must have been parsed with t.Known(). Tests
// use it to host drivers of their own.
func WithDrivers(t Drivers) Option { return func(d *Daemon) { d.drivers = t } }

// New returns a daemon for a configuration checked by config.Parse with
// the Known of its drivers; Start starts it.
func New(cfg *config.Config, log *slog.Logger, opts ...Option) *Daemon {
	d := &Daemon{cfg: cfg, log: log, drivers: Builtin(), hist: newHistory(),
		rates: make(map[string][2]float64), prev: make(map[string]tick),
		lastEnd: make(map[string]ndis.Event), stop: make(chan struct{})}
	for _, o := range opts {
		o(d)
	}
	r := cfg.Runtime
	ropts := []ndis.Option{
		ndis.WithLogger(log),
		ndis.WithVerifier(r.VerifierMode),
		ndis.WithEventHandler(d.onEvent),
	}
	if r.CheckForHangTime > 0 {
		ropts = append(ropts, ndis.WithCheckForHangInterval(r.CheckForHangTime))
	}
	if r.ResetTimeoutTime > 0 {
		ropts = append(ropts, ndis.WithResetTimeout(r.ResetTimeoutTime))
	}
	if l := r.OperatorResetLimit; l.Max > 0 {
		ropts = append(ropts, ndis.WithOperatorResetLimit(l))
	}
	if e := r.Escalation; e != nil {
		ropts = append(ropts, ndis.WithResetEscalation(ndis.Escalation{
			MaxConsecutiveFailures: e.MaxConsecutiveFailures, MaxResets: e.MaxResets, Window: e.WindowTime}))
	}
	d.rt = ndis.New(ropts...)
	return d
}

func (d *Daemon) onEvent(ev ndis.Event) {
	switch ev.Kind {
	case ndis.EventResetEnd:
		d.mu.Lock()
		d.lastEnd[ev.Adapter] = ev
		d.mu.Unlock()
	case ndis.EventState:
		if ev.State == ndis.AdapterInitializing { // a new adapter under the name: no reset yet
			d.mu.Lock()
			delete(d.lastEnd, ev.Adapter)
			d.mu.Unlock()
		}
	case ndis.EventFailed:
		// The runtime halts it; it stays listed, Halted, with this reason.
		d.log.Warn("adapter failed", slog.String("adapter", ev.Adapter), slog.String("reason", ev.Detail))
	}
	d.hist.add(ev)
	if d.hook != nil {
		d.hook(ev)
	}
}

// Runtime returns the daemon's runtime.
func (d *Daemon) Runtime() *ndis.Runtime { return d.rt }

// Start registers the drivers, adds every adapter and opens every binding,
// in configuration order. On failure it takes down what it started and
// returns the error.
func (d *Daemon) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = d.Close(cctx)
		}
	}()
	if err := d.drivers.register(d.rt); err != nil {
		return err
	}
	for i, ac := range d.cfg.Adapters {
		a, err := d.rt.AddAdapter(ctx, ac.Name, ac.Driver, ac.StringParams)
		if err != nil {
			return d.startError(fmt.Sprintf("$.adapters[%d]", i), fmt.Sprintf("adapter %q", ac.Name), err)
		}
		d.mu.Lock()
		d.adapters = append(d.adapters, a)
		d.mu.Unlock()
		d.log.Info("adapter up", slog.String("adapter", a.Name()), slog.String("driver", a.Driver()),
			slog.String("mac", a.MacAddress().String()))
	}
	for i := range d.cfg.Bindings {
		if err := d.bind(ctx, i); err != nil {
			return err
		}
	}
	d.sampling.Add(1)
	go d.sample()
	return nil
}

// bind opens the configuration's binding i, with its parameters.
func (d *Daemon) bind(ctx context.Context, i int) error {
	bc := d.cfg.Bindings[i]
	if _, err := d.rt.Bind(ctx, bc.Protocol, bc.Adapter, ndis.BindParams(bc.StringParams)); err != nil {
		return d.startError(fmt.Sprintf("$.bindings[%d]", i), fmt.Sprintf("binding of %q to %q", bc.Protocol, bc.Adapter), err)
	}
	d.log.Info("bound", slog.String("protocol", bc.Protocol), slog.String("adapter", bc.Adapter))
	return nil
}

// StartError is Start's error for an adapter or binding that failed, and
// Reinitialize's for a binding: the driver refused its parameters, say,
// which config.Parse could not tell.
// Where is "FILE:LINE" of the configuration that it blames: the
// parameter's own key for an *ndis.ParamError, else the entry.
type StartError struct {
	Where string
	What  string // `adapter "sim0"`, `binding of "traffic" to "sim0"`
	Err   error  // the runtime's error
}

// Error says where, then what: for a parameter, the entry and the
// *ndis.ParamError alone; otherwise the runtime's error, which names the
// adapter or binding itself.
func (e *StartError) Error() string {
	var pe *ndis.ParamError
	if errors.As(e.Err, &pe) {
		return fmt.Sprintf("%s: %s: %v", e.Where, e.What, pe)
	}
	return fmt.Sprintf("%s: %v", e.Where, e.Err)
}

// Unwrap returns the runtime's error.
func (e *StartError) Unwrap() error { return e.Err }

func (d *Daemon) startError(at, what string, err error) error {
	return &StartError{Where: d.cfg.ParamWhere(at, err), What: what, Err: err}
}

// Close takes every adapter down (pause, unbind, halt) within ctx, logs each
// halt, and stops the daemon. Close twice is fine.
func (d *Daemon) Close(ctx context.Context) error {
	d.mu.Lock()
	first := !d.closed
	d.closed = true
	as := append([]*ndis.Adapter(nil), d.adapters...)
	d.mu.Unlock()
	if first {
		close(d.stop)
	}
	d.sampling.Wait()
	err := d.rt.Close(ctx)
	if first {
		for _, a := range as {
			d.log.Info("adapter halted", slog.String("adapter", a.Name()), slog.String("state", a.State().String()))
		}
		d.hist.close()
	}
	return err
}

// Hosted returns the name and current state of every adapter the daemon
// added, in configuration order, halted ones too: what is left to say
// after Close.
func (d *Daemon) Hosted() [][2]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([][2]string, 0, len(d.adapters))
	for _, a := range d.adapters {
		out = append(out, [2]string{a.Name(), a.State().String()})
	}
	return out
}

// Adapters returns the status of every adapter the runtime holds, sorted by
// name: failed ones too, with their reason.
func (d *Daemon) Adapters() []api.Adapter {
	as := d.rt.Adapters()
	out := make([]api.Adapter, 0, len(as))
	for _, a := range as {
		out = append(out, d.status(a))
	}
	return out
}

// Names returns the names of the adapters the runtime holds, sorted: what
// an unknown adapter's error lists.
func (d *Daemon) Names() []string {
	var names []string
	for _, a := range d.rt.Adapters() {
		names = append(names, a.Name())
	}
	return names
}

// Adapter returns the status of one adapter; false if there is none.
func (d *Daemon) Adapter(name string) (api.Adapter, bool) {
	a, ok := d.rt.Adapter(name)
	if !ok {
		return api.Adapter{}, false
	}
	return d.status(a), true
}

func (d *Daemon) status(a *ndis.Adapter) api.Adapter {
	st := a.Stats()
	s := api.Adapter{
		Name: a.Name(), Driver: a.Driver(), State: st.State.String(), FailureReason: a.FailureReason(),
		MAC: a.MacAddress().String(), Link: a.Link().MediaConnectState.String(),
		SentNBLs: st.SentNBLs, SentFrames: st.SentFrames, SentBytes: st.SentBytes,
		SendCompleted: st.SendCompleted, SendFailed: st.SendFailed, SendRejected: st.SendRejected,
		ReceivedNBLs: st.ReceivedNBLs, ReceivedFrames: st.ReceivedFrames, ReceivedBytes: st.ReceivedBytes,
		ReturnedNBLs: st.ReturnedNBLs, ReceiveDropped: st.ReceiveDropped, ReceiveDuringReset: st.ReceiveDuringReset,
		Violations: st.Violations,
		Resets:     make(map[string]api.Resets, len(st.Resets)),
		Bindings:   []api.Binding{},
		Details:    details(a.Details()),
	}
	for _, b := range a.Bindings() {
		s.Bindings = append(s.Bindings, api.Binding{Protocol: b.Protocol(), Details: details(b.Details())})
	}
	for c, r := range st.Resets {
		s.Resets[c.String()] = api.Resets{Requested: r.Requested, Coalesced: r.Coalesced, Dropped: r.Dropped,
			Performed: r.Performed, Failed: r.Failed, LastDuration: r.LastDuration, MaxDuration: r.MaxDuration}
	}
	d.mu.Lock()
	r := d.rates[a.Name()]
	if ev, ok := d.lastEnd[a.Name()]; ok {
		s.LastResetStatus, s.LastResetDuration = ev.Status.String(), ev.Duration
	}
	d.mu.Unlock()
	s.TxPerSecond, s.RxPerSecond = r[0], r[1]
	return s
}

// details returns what a driver reported of itself, as the API shows it.
// The labels are copied: a driver may hand out the same map each time.
func details(ds []ndis.Detail) []api.Detail {
	out := make([]api.Detail, len(ds))
	for i, x := range ds {
		out[i] = api.Detail{Name: x.Name, Help: x.Help, Kind: x.Kind.String(), Value: x.Value, Text: x.Text,
			Labels: maps.Clone(x.Labels)}
	}
	return out
}

// tick is one adapter's frame counters at a sampling tick, tx and rx.
// The adapter tells a new adapter under the same name (initialized again),
// whose counters start again from zero, from the one sampled before.
type tick struct {
	a      *ndis.Adapter
	frames [2]uint64
}

// sample computes the per-second frame rates every SampleInterval.
func (d *Daemon) sample() {
	defer d.sampling.Done()
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			as := d.rt.Adapters()
			d.mu.Lock()
			for _, a := range as {
				st := a.Stats()
				d.measure(now, tick{a, [2]uint64{st.SentFrames, st.ReceivedFrames}})
			}
			d.prevAt = now
			d.mu.Unlock()
		}
	}
}

// measure sets an adapter's rates from its last sample and cur, taken at
// now, and keeps cur. The first sample of an adapter has no rates. Called
// with d.mu held.
func (d *Daemon) measure(now time.Time, cur tick) {
	name := cur.a.Name()
	var r [2]float64
	if p, ok := d.prev[name]; ok && p.a == cur.a && !d.prevAt.IsZero() {
		if dt := now.Sub(d.prevAt).Seconds(); dt > 0 {
			r = [2]float64{float64(cur.frames[0]-p.frames[0]) / dt, float64(cur.frames[1]-p.frames[1]) / dt}
		}
	}
	d.rates[name] = r
	d.prev[name] = cur
}

// Events returns the recent history, oldest first.
func (d *Daemon) Events() []api.Event { return d.hist.snapshot() }

// Follow returns the recent history and a subscription to what follows.
// The caller closes the subscription.
func (d *Daemon) Follow() ([]api.Event, *Subscription) { return d.hist.subscribe() }

// Errors of the actions. The control API maps them to HTTP statuses.
var (
	ErrUnknownAdapter = ndis.ErrUnknownAdapter
	ErrConflict       = errors.New("daemon: not possible in the adapter's state")
)

// resetMessages say what became of an operator reset request, by outcome.
var resetMessages = map[ndis.ResetOutcome]string{
	ndis.ResetQueued:    "reset queued",
	ndis.ResetCoalesced: "joined the reset already queued",
}

// Reset asks for an operator reset of the adapter (ndis.Runtime.RequestReset)
// and says what became of the request, with the adapter's status. It
// returns once the request is queued or has joined the reset queued
// already, not when the reset is done. A dropped request is an ErrConflict
// that says why: "dropped: a reset is in progress", "dropped: rate limit
// (10 per 1m0s)".
func (d *Daemon) Reset(name string) (api.ResetResult, error) {
	o, err := d.rt.RequestReset(name)
	switch {
	case errors.Is(err, ndis.ErrResetInProgress):
		return api.ResetResult{}, &conflict{msg: "dropped: a reset is in progress", err: err}
	case errors.Is(err, ndis.ErrResetRateLimited):
		l := d.cfg.Runtime.OperatorResetLimit
		return api.ResetResult{}, &conflict{msg: fmt.Sprintf("dropped: rate limit (%d per %s)", l.Max, l.Window), err: err}
	case err != nil:
		return api.ResetResult{}, d.mapErr(name, err)
	}
	r := api.ResetResult{Outcome: o.String(), Message: resetMessages[o]}
	r.Adapter, _ = d.Adapter(name)
	return r, nil
}

// ErrRebind is Reinitialize's error when the adapter is Running again but
// a binding of the configuration could not be opened to it again.
var ErrRebind = errors.New("daemon: the adapter is running again, but not all of its bindings")

// Reinitialize initializes a failed adapter again, as an operator does
// after fixing what failed it (ndis.Runtime.ReinitializeAdapter: a new
// adapter of the same driver and parameters), then opens the
// configuration's bindings to it again, each with its parameters, in
// configuration order. It returns once the adapter is Running and bound.
// An adapter that has not failed is an ErrConflict; a binding that cannot
// be opened again is an ErrRebind, the adapter running without it. It is
// logged and recorded as a "reinitialized" event.
func (d *Daemon) Reinitialize(ctx context.Context, name string) error {
	_, err := d.rt.ReinitializeAdapter(ctx, name)
	d.relist(name)
	switch {
	case errors.Is(err, ndis.ErrInvalidState):
		state := "gone"
		if a, ok := d.rt.Adapter(name); ok {
			state = a.State().String()
		}
		return &conflict{msg: fmt.Sprintf("adapter %q has not failed (state %s): nothing to initialize again", name, state), err: err}
	case err != nil:
		return d.mapErr(name, err)
	}
	var bound []string
	var errs []error
	for i, bc := range d.cfg.Bindings {
		if bc.Adapter != name {
			continue
		}
		if err := d.bind(ctx, i); err != nil {
			d.log.Warn("binding not opened again", slog.String("protocol", bc.Protocol), slog.String("adapter", name), slog.Any("err", err))
			errs = append(errs, err)
			continue
		}
		bound = append(bound, bc.Protocol)
	}
	detail := "bound: " + strings.Join(bound, ", ")
	if len(bound) == 0 {
		detail = "no bindings"
	}
	if len(errs) > 0 {
		detail += fmt.Sprintf("; %d not opened again", len(errs))
	}
	d.log.Info("adapter initialized again", slog.String("adapter", name), slog.Any("bindings", bound))
	d.hist.record(api.Event{Time: time.Now(), Adapter: name, Kind: api.KindReinitialized, Detail: detail})
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrRebind, errors.Join(errs...))
	}
	return nil
}

// relist points the daemon's own list of the adapters it added at the one
// the runtime holds under name now: a new one once initialized again.
func (d *Daemon) relist(name string) {
	a, ok := d.rt.Adapter(name)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, h := range d.adapters {
		if h.Name() == name {
			d.adapters[i] = a
		}
	}
}

// Pause pauses the adapter and returns once it is Paused.
func (d *Daemon) Pause(ctx context.Context, name string) error {
	return d.mapErr(name, d.rt.PauseAdapter(ctx, name))
}

// Restart restarts the adapter and returns once it is Running.
func (d *Daemon) Restart(ctx context.Context, name string) error {
	return d.mapErr(name, d.rt.RestartAdapter(ctx, name))
}

// mapErr makes the runtime's error of an action on the named adapter one
// of the daemon's: what the adapter's state forbids is an ErrConflict,
// which, when the adapter has failed, says so and why.
func (d *Daemon) mapErr(name string, err error) error {
	switch {
	case err == nil, errors.Is(err, ndis.ErrUnknownAdapter):
		return err
	case errors.Is(err, ndis.ErrInvalidState), errors.Is(err, ndis.ErrAdapterHalted),
		errors.Is(err, ndis.ErrResetUnsupported), errors.Is(err, ndis.ErrRuntimeClosed):
		if a, ok := d.rt.Adapter(name); ok && a.FailureReason() != "" {
			return &conflict{msg: fmt.Sprintf("adapter %q has failed: %s", name, a.FailureReason()), err: err}
		}
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}

// conflict is an ErrConflict that says what happened in words of its own,
// for the operator who reads it; it unwraps to the runtime's error.
type conflict struct {
	msg string
	err error
}

func (c *conflict) Error() string        { return c.msg }
func (c *conflict) Is(target error) bool { return target == ErrConflict }
func (c *conflict) Unwrap() error        { return c.err }
