// Package param is the parameter table every gondis miniport and protocol
// declares its parameters with (the registry keywords of NDIS): one Spec a
// key, with its doc and its parser. A Table yields the driver's parser, its
// validator (ndis.MiniportDriver.ValidateParams and
// ndis.ProtocolDriver.ValidateParams), the "unknown parameter; the sim
// takes …" message and the key list for docs, so drivers take their
// parameters alike and a configuration is checked before anything starts.
//
// It is a toolkit, not part of the contract: drivers outside this module
// declare their parameters as they like and return *ndis.ParamError.
package param

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gondis/gondis/ndis"
)

// Spec is one parameter of a driver whose parsed parameters are a C.
type Spec[C any] struct {
	Key string
	Doc string // one line: what it is, its range and its default
	// Set parses v into c. Its error's text is the reason of the
	// *ndis.ParamError: what was wanted ("want an integer from 1 to 16").
	Set func(c *C, v string) error
}

// Table is a driver's parameters.
type Table[C any] struct {
	Driver string // the driver's name, as in its ParamErrors
	Specs  []Spec[C]
	// Other, optional, takes keys that are not in Specs (the sim's fault
	// names): known false means the key is unknown. OtherDoc names them
	// for the unknown-parameter message ("the faults fatal, hang …").
	Other    func(c *C, key, v string) (known bool, err error)
	OtherDoc string
}

// Parse reads params into c, which holds the defaults. Keys are read in
// sorted order, so the error for several bad keys is always the same one:
// a *ndis.ParamError for the first unknown key or refused value.
func (t *Table[C]) Parse(c *C, params map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		err := t.set(c, k, v)
		if err == nil {
			continue
		}
		return &ndis.ParamError{Driver: t.Driver, Key: k, Value: v, Reason: err.Error()}
	}
	return nil
}

func (t *Table[C]) set(c *C, k, v string) error {
	for i := range t.Specs {
		if t.Specs[i].Key == k {
			return t.Specs[i].Set(c, v)
		}
	}
	if t.Other != nil {
		if known, err := t.Other(c, k, v); known {
			return err
		}
	}
	return errors.New(t.unknownReason())
}

// unknownReason is the reason given for an unknown key: every key the
// driver takes.
func (t *Table[C]) unknownReason() string {
	s := "unknown parameter; " + t.Driver + " takes " + list(t.Keys())
	if t.OtherDoc != "" {
		s += " and " + t.OtherDoc
	}
	return s
}

// Validate reports the first bad parameter, as Parse does, without keeping
// anything: the driver's ValidateParams.
func (t *Table[C]) Validate(params map[string]string) error {
	var c C
	return t.Parse(&c, params)
}

// Keys returns the declared keys, in declaration order.
func (t *Table[C]) Keys() []string {
	keys := make([]string, len(t.Specs))
	for i, s := range t.Specs {
		keys[i] = s.Key
	}
	return keys
}

// Doc returns the table as the aligned "key  doc" lines of a package doc.
func (t *Table[C]) Doc() string {
	w := 0
	for _, s := range t.Specs {
		w = max(w, len(s.Key))
	}
	var b strings.Builder
	for _, s := range t.Specs {
		fmt.Fprintf(&b, "%-*s  %s\n", w, s.Key, s.Doc)
	}
	return b.String()
}

func list(keys []string) string {
	switch len(keys) {
	case 0:
		return "no parameters"
	case 1:
		return keys[0]
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}
