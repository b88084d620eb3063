package ndis

import (
	"fmt"
	"maps"
)

// ParamError is the error for a bad adapter or binding parameter (a
// registry keyword, in NDIS): an unknown key or a value its driver refuses.
// Drivers and protocols return it from Initialize, BindAdapter and their
// ValidateParams; it wraps StatusInvalidParameter, so
// errors.Is(err, StatusInvalidParameter) holds for it.
type ParamError struct {
	Driver string // the miniport or protocol driver whose parameter it is
	Key    string // the parameter's name
	Value  string // its value, as given
	Reason string // what is wrong with it, and what would be right
}

func (e *ParamError) Error() string {
	if e.Driver == "" {
		return fmt.Sprintf("parameter %s=%q: %s", e.Key, e.Value, e.Reason)
	}
	return fmt.Sprintf("%s: parameter %s=%q: %s", e.Driver, e.Key, e.Value, e.Reason)
}

// Unwrap returns StatusInvalidParameter.
func (e *ParamError) Unwrap() error { return StatusInvalidParameter }

// ValidateAdapterParams checks an adapter's parameters against the named
// miniport driver's ValidateParams, without creating anything, so that a
// configuration can be checked whole before any adapter starts. A driver
// without ValidateParams accepts every parameter here; its Initialize
// still decides.
func (rt *Runtime) ValidateAdapterParams(driver string, params map[string]string) error {
	return rt.validate(ErrUnknownDriver, driver, params)
}

// validate runs the ValidateParams of the miniport driver (kind
// ErrUnknownDriver) or protocol driver (ErrUnknownProtocol) registered as
// name, if it has one, on a copy of params.
func (rt *Runtime) validate(kind error, name string, params map[string]string) error {
	var check func(map[string]string) error
	known := false
	rt.mu.Lock()
	switch kind {
	case ErrUnknownDriver:
		if d, ok := rt.miniports[name]; ok {
			check, known = d.ValidateParams, true
		}
	case ErrUnknownProtocol:
		if p, ok := rt.protocols[name]; ok {
			check, known = p.ValidateParams, true
		}
	}
	rt.mu.Unlock()
	switch {
	case !known:
		return rt.unknown(kind, name)
	case check == nil:
		return nil
	}
	return check(maps.Clone(params))
}

// ValidateBindParams checks a binding's parameters against the named
// protocol driver's ValidateParams, as ValidateAdapterParams does.
func (rt *Runtime) ValidateBindParams(protocol string, params map[string]string) error {
	return rt.validate(ErrUnknownProtocol, protocol, params)
}
