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
	rt.mu.Lock()
	d, ok := rt.miniports[driver]
	rt.mu.Unlock()
	if !ok {
		return rt.unknown(ErrUnknownDriver, driver)
	}
	return validate(d.ValidateParams, params)
}

// validate runs a driver's ValidateParams, if it has one, on a copy.
func validate(check func(map[string]string) error, params map[string]string) error {
	if check == nil {
		return nil
	}
	return check(maps.Clone(params))
}

// ValidateBindParams checks a binding's parameters against the named
// protocol driver's ValidateParams, as ValidateAdapterParams does.
func (rt *Runtime) ValidateBindParams(protocol string, params map[string]string) error {
	rt.mu.Lock()
	p, ok := rt.protocols[protocol]
	rt.mu.Unlock()
	if !ok {
		return rt.unknown(ErrUnknownProtocol, protocol)
	}
	return validate(p.ValidateParams, params)
}
