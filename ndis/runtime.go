package ndis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Errors of the program-facing API. Calls wrap them with detail; test with
// errors.Is.
var (
	ErrUnknownDriver    = errors.New("ndis: unknown driver")
	ErrUnknownProtocol  = errors.New("ndis: unknown protocol")
	ErrUnknownAdapter   = errors.New("ndis: unknown adapter")
	ErrDuplicateName    = errors.New("ndis: name already registered")
	ErrInvalidName      = errors.New("ndis: invalid name")
	ErrInvalidState     = errors.New("ndis: operation not allowed in the adapter's state")
	ErrAdapterHalted    = errors.New("ndis: adapter halted")
	ErrRuntimeClosed    = errors.New("ndis: runtime closed")
	ErrResetUnsupported = errors.New("ndis: the adapter's driver cannot be reset")
)

// Option configures a Runtime.
type Option func(*config)

type config struct {
	log          *slog.Logger
	clock        Clock
	verifier     VerifierMode
	violation    func(Violation)
	events       func(Event)
	hangInterval time.Duration
	resetTimeout time.Duration
	escalation   Escalation
	// operatorLimit bounds operator resets per adapter.
	operatorLimit  OperatorResetLimit
	handlerTimeout time.Duration
}

// WithLogger sets the structured logger. The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithClock sets the clock every runtime timer goes through.
func WithClock(cl Clock) Option { return func(c *config) { c.clock = cl } }

// WithVerifier sets the verifier mode (VerifierLog by default).
func WithVerifier(m VerifierMode) Option { return func(c *config) { c.verifier = m } }

// WithViolationHandler installs a function called for every verifier
// finding, from the goroutine that made the offending call, with no runtime
// lock held. It must not block.
func WithViolationHandler(f func(Violation)) Option { return func(c *config) { c.violation = f } }

// WithEventHandler installs a function called for every adapter event
// (state changes, every reset step, link changes, violations), with no
// runtime lock held, mostly from adapters' work goroutines. It must not
// block.
func WithEventHandler(f func(Event)) Option { return func(c *config) { c.events = f } }

// WithCheckForHangInterval overrides the check-for-hang period that adapters
// derive from their registration attributes. Zero keeps the derived period.
func WithCheckForHangInterval(d time.Duration) Option {
	return func(c *config) { c.hangInterval = d }
}

// Runtime is the NDIS library: it holds the registered miniport and protocol
// drivers, the adapters and their bindings. A Runtime is safe for
// concurrent use.
type Runtime struct {
	cfg config
	log *slog.Logger

	mu        sync.Mutex
	closed    bool
	miniports map[string]*MiniportDriver
	protocols map[string]*ProtocolDriver
	adapters  map[string]*Adapter

	wd watchdog // see watchdog.go
}

// New returns a Runtime.
func New(opts ...Option) *Runtime {
	c := config{
		clock:          RealClock(),
		verifier:       VerifierLog,
		resetTimeout:   defaultResetTimeout,
		escalation:     defaultEscalation,
		handlerTimeout: defaultHandlerTimeout,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{
		cfg:       c,
		log:       c.log,
		miniports: make(map[string]*MiniportDriver),
		protocols: make(map[string]*ProtocolDriver),
		adapters:  make(map[string]*Adapter),
	}
}

// RegisterMiniportDriver is NdisMRegisterMiniportDriver.
func (rt *Runtime) RegisterMiniportDriver(d MiniportDriver) error {
	if d.Name == "" || d.Initialize == nil {
		return fmt.Errorf("%w: a miniport driver needs a name and an Initialize handler", ErrInvalidName)
	}
	return register(rt, rt.miniports, "miniport driver", d.Name, &d)
}

// RegisterProtocolDriver is NdisRegisterProtocolDriver.
func (rt *Runtime) RegisterProtocolDriver(p ProtocolDriver) error {
	if p.Name == "" || p.BindAdapter == nil {
		return fmt.Errorf("%w: a protocol driver needs a name and a BindAdapter handler", ErrInvalidName)
	}
	return register(rt, rt.protocols, "protocol driver", p.Name, &p)
}

// register adds a driver to one of the runtime's tables under its name.
func register[D any](rt *Runtime, table map[string]*D, what, name string, d *D) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return ErrRuntimeClosed
	}
	if _, ok := table[name]; ok {
		return fmt.Errorf("%w: %s %q", ErrDuplicateName, what, name)
	}
	table[name] = d
	return nil
}

// AddAdapter creates an adapter of the named miniport driver, initializes it
// (MiniportInitializeEx with params) and restarts it. It returns once the
// adapter is Running. If Initialize fails the adapter goes back to Halted,
// is forgotten, and the error wraps the miniport's error (a Status, for
// errors.Is).
func (rt *Runtime) AddAdapter(ctx context.Context, name, driver string, params map[string]string) (*Adapter, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty adapter name", ErrInvalidName)
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, ErrRuntimeClosed
	}
	d, ok := rt.miniports[driver]
	if !ok {
		rt.mu.Unlock()
		return nil, rt.unknown(ErrUnknownDriver, driver)
	}
	if _, ok := rt.adapters[name]; ok {
		rt.mu.Unlock()
		return nil, fmt.Errorf("%w: adapter %q", ErrDuplicateName, name)
	}
	rt.mu.Unlock()
	params = maps.Clone(params)
	if d.ValidateParams != nil {
		if err := d.ValidateParams(params); err != nil {
			return nil, fmt.Errorf("ndis: adapter %q: %w", name, err)
		}
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, ErrRuntimeClosed
	}
	if _, ok := rt.adapters[name]; ok {
		rt.mu.Unlock()
		return nil, fmt.Errorf("%w: adapter %q", ErrDuplicateName, name)
	}
	a := newAdapter(rt, name, d, params)
	rt.adapters[name] = a
	rt.mu.Unlock()
	if err := a.start(ctx); err != nil {
		return nil, fmt.Errorf("ndis: adapter %q: %w", name, err)
	}
	return a, nil
}

// start runs the adapter's work goroutine, initializes and restarts it. On
// failure it takes the adapter down in the background: the failed step may
// still be running (a cancelled ctx) and removal waits for it.
func (a *Adapter) start(ctx context.Context) error {
	go a.run()
	a.rt.armWatchdog()
	err := a.submit(ctx, &lifeOp{kind: opInitialize})
	if err == nil {
		err = a.submit(ctx, &lifeOp{kind: opRestart})
	}
	if err != nil {
		a.enqueue(&lifeOp{kind: opRemove, action: HaltDeviceInitializationFailed, done: make(chan error, 1)})
	}
	return err
}

// ReinitializeAdapter initializes a failed adapter again, as an operator
// does after fixing what failed it: a new adapter of the same name, driver
// and parameters replaces the failed one (which stays Halted) and is
// returned once Running. Bindings are not restored; the caller binds
// again. If it fails in turn, it stays listed as failed, with the new
// reason.
func (rt *Runtime) ReinitializeAdapter(ctx context.Context, name string) (*Adapter, error) {
	old, err := rt.lookup(name)
	if err != nil {
		return nil, err
	}
	select {
	case <-old.done:
	default:
		return nil, fmt.Errorf("%w: adapter %q has not failed (state %s)", ErrInvalidState, name, old.State())
	}
	a := newAdapter(rt, name, old.driver, old.params)
	rt.mu.Lock()
	switch {
	case rt.closed:
		rt.mu.Unlock()
		return nil, ErrRuntimeClosed
	case rt.adapters[name] != old:
		rt.mu.Unlock()
		return nil, fmt.Errorf("%w: adapter %q changed meanwhile", ErrInvalidState, name)
	}
	rt.adapters[name] = a
	rt.mu.Unlock()
	if err := a.start(ctx); err != nil {
		// Listed as failed once its work goroutine is gone, so that nothing
		// races the write and the operator still sees why.
		go a.listFailed("initialized again, and failed: " + err.Error())
		return nil, fmt.Errorf("ndis: adapter %q: %w", name, err)
	}
	return a, nil
}

// listFailed waits for the adapter's work goroutine to exit, marks the
// adapter failed with why and lists it again under its name, unless
// another adapter has taken the name meanwhile.
func (a *Adapter) listFailed(why string) {
	<-a.done
	a.mu.Lock()
	if a.failure == "" {
		a.failure = why
	}
	a.mu.Unlock()
	rt := a.rt
	rt.mu.Lock()
	if _, taken := rt.adapters[a.name]; !taken && !rt.closed {
		rt.adapters[a.name] = a
	}
	rt.mu.Unlock()
}

// Bind is NdisOpenAdapterEx driven by the runtime: it opens a binding of
// the named protocol to the named adapter and calls the protocol's
// BindAdapter, which finds its parameters (BindParams) in
// (*Binding).Params. The protocol driver's ValidateParams, when it has
// one, checks them first. A Bind while the adapter is resetting waits for
// RESET_END.
func (rt *Runtime) Bind(ctx context.Context, protocol, adapter string, opts ...BindOption) (*Binding, error) {
	var bc bindConfig
	for _, o := range opts {
		o(&bc)
	}
	rt.mu.Lock()
	p, ok := rt.protocols[protocol]
	a, aok := rt.adapters[adapter]
	closed := rt.closed
	rt.mu.Unlock()
	switch {
	case closed:
		return nil, ErrRuntimeClosed
	case !ok:
		return nil, rt.unknown(ErrUnknownProtocol, protocol)
	case !aok:
		return nil, rt.unknown(ErrUnknownAdapter, adapter)
	}
	if p.ValidateParams != nil {
		if err := p.ValidateParams(maps.Clone(bc.params)); err != nil {
			return nil, fmt.Errorf("ndis: binding of %q to %q: %w", protocol, adapter, err)
		}
	}
	return a.bind(ctx, p, bc.params)
}

// BindOption configures a Bind.
type BindOption func(*bindConfig)

type bindConfig struct {
	params map[string]string
}

// BindParams gives the binding its parameters: what NDIS_BIND_PARAMETERS
// points a protocol to in the registry. The protocol reads them with
// (*Binding).Params; the map is copied.
func BindParams(params map[string]string) BindOption {
	return func(c *bindConfig) { c.params = maps.Clone(params) }
}

// PauseAdapter pauses a Running adapter (MiniportPause) and returns once it
// is Paused.
func (rt *Runtime) PauseAdapter(ctx context.Context, name string) error {
	return rt.submit(ctx, name, opPause)
}

// RestartAdapter restarts a Paused adapter (MiniportRestart) and returns
// once it is Running, or the miniport's failure.
func (rt *Runtime) RestartAdapter(ctx context.Context, name string) error {
	return rt.submit(ctx, name, opRestart)
}

// ShutdownAdapter is MiniportShutdownEx: the adapter stops at once, without
// a halt, as on system shutdown. Only RemoveAdapter is possible afterwards.
func (rt *Runtime) ShutdownAdapter(ctx context.Context, name string) error {
	return rt.submit(ctx, name, opShutdown)
}

// RemoveAdapter pauses the adapter if it is running, unbinds every protocol,
// halts it (MiniportHaltEx with HaltDeviceDisabled) and forgets it.
func (rt *Runtime) RemoveAdapter(ctx context.Context, name string) error {
	a, err := rt.lookup(name)
	if err != nil {
		return err
	}
	// A failed adapter's work goroutine is gone: it answers ErrAdapterHalted
	// and only needs forgetting.
	if err := a.submit(ctx, &lifeOp{kind: opRemove, action: HaltDeviceDisabled}); err != nil && !errors.Is(err, ErrAdapterHalted) {
		return err
	}
	// Return once the adapter is forgotten, so that its name is free again.
	select {
	case <-a.done:
		rt.forget(a)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Adapter returns the named adapter.
func (rt *Runtime) Adapter(name string) (*Adapter, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	a, ok := rt.adapters[name]
	return a, ok
}

// Adapters returns every adapter, sorted by name.
func (rt *Runtime) Adapters() []*Adapter {
	rt.mu.Lock()
	as := make([]*Adapter, 0, len(rt.adapters))
	for _, a := range rt.adapters {
		as = append(as, a)
	}
	rt.mu.Unlock()
	sort.Slice(as, func(i, j int) bool { return as[i].name < as[j].name })
	return as
}

// Close removes every adapter, as RemoveAdapter does, and refuses new work.
// It honours ctx: when it ends first, Close returns its error while the
// removals go on. Close twice is fine.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	as := make([]*Adapter, 0, len(rt.adapters))
	for _, a := range rt.adapters {
		as = append(as, a)
	}
	rt.mu.Unlock()
	errs := make(chan error, len(as))
	for _, a := range as {
		go func() {
			err := a.submit(ctx, &lifeOp{kind: opRemove, action: HaltDeviceDisabled})
			if errors.Is(err, ErrAdapterHalted) {
				err = nil
			}
			errs <- err
		}()
	}
	var all []error
	for range as {
		all = append(all, <-errs)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	for _, a := range as {
		select {
		case <-a.done:
			rt.forget(a)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	rt.stopWatchdog()
	return nil
}

// submit runs a lifecycle operation of kind on the named adapter's work
// goroutine and returns its result.
func (rt *Runtime) submit(ctx context.Context, name string, kind opKind) error {
	a, err := rt.lookup(name)
	if err != nil {
		return err
	}
	return a.submit(ctx, &lifeOp{kind: kind})
}

func (rt *Runtime) lookup(name string) (*Adapter, error) {
	a, ok := rt.Adapter(name)
	if !ok {
		return nil, rt.unknown(ErrUnknownAdapter, name)
	}
	return a, nil
}

// unknown returns err for a name that is not registered, with the names
// that are: "ndis: unknown driver "x" (known: loopback, sim)".
func (rt *Runtime) unknown(err error, name string) error {
	rt.mu.Lock()
	var known []string
	switch err {
	case ErrUnknownDriver:
		known = slices.Collect(maps.Keys(rt.miniports))
	case ErrUnknownProtocol:
		known = slices.Collect(maps.Keys(rt.protocols))
	case ErrUnknownAdapter:
		known = slices.Collect(maps.Keys(rt.adapters))
	}
	rt.mu.Unlock()
	if len(known) == 0 {
		return fmt.Errorf("%w %q (none registered)", err, name)
	}
	slices.Sort(known)
	return fmt.Errorf("%w %q (known: %s)", err, name, strings.Join(known, ", "))
}

func (rt *Runtime) forget(a *Adapter) {
	rt.mu.Lock()
	if rt.adapters[a.name] == a {
		delete(rt.adapters, a.name)
	}
	rt.mu.Unlock()
}
