// Package prototest sets up what the tests of gondis's protocols share: a
// runtime with the strict verifier, one adapter, the protocols under test
// and their bindings, torn down when the test ends.
package prototest

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gondis/gondis/internal/param/paramtest"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// closeTimeout bounds the runtime's Close at the end of a test.
const closeTimeout = 10 * time.Second

// Start returns a runtime running the strict verifier for t, with mp
// registered and an adapter of it called adapter added (without
// parameters), and protocols registered. The runtime is closed when the
// test ends; a test may close it earlier.
func Start(t testing.TB, mp ndis.MiniportDriver, adapter string, protocols ...ndis.ProtocolDriver) *ndis.Runtime {
	t.Helper()
	rt := ndis.New(ndistest.NewVerifier(t).Options()...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := rt.RegisterMiniportDriver(mp); err != nil {
		t.Fatal(err)
	}
	for _, p := range protocols {
		if err := rt.RegisterProtocolDriver(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rt.AddAdapter(context.Background(), adapter, mp.Name, nil); err != nil {
		t.Fatal(err)
	}
	return rt
}

// Bind binds protocol to adapter with params and fails the test if it
// cannot.
func Bind(t testing.TB, rt *ndis.Runtime, protocol, adapter string, params map[string]string) *ndis.Binding {
	t.Helper()
	b, err := rt.Bind(context.Background(), protocol, adapter, ndis.BindParams(params))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Report returns what b's protocol reports (ndis.Reporter), each value
// keyed by its name and, when it has labels, name{key=value,...} with the
// keys sorted. It fails the test for a detail reported twice, a name that
// is not lower_snake_case, a detail without help, or a text detail (the
// protocols report numbers only).
func Report(t testing.TB, b *ndis.Binding) map[string]float64 {
	t.Helper()
	m := make(map[string]float64)
	for _, d := range b.Details() {
		key := d.Name
		if len(d.Labels) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
				kv = append(kv, k+"="+d.Labels[k])
			}
			key += "{" + strings.Join(kv, ",") + "}"
		}
		switch {
		case !snake.MatchString(d.Name):
			t.Errorf("detail %q: the name is not lower_snake_case", key)
		case d.Help == "":
			t.Errorf("detail %q has no help", key)
		case d.Kind == ndis.DetailText:
			t.Errorf("detail %q is text", key)
		}
		if _, dup := m[key]; dup {
			t.Errorf("detail %q reported twice", key)
		}
		m[key] = d.Value
	}
	return m
}

// CheckReport fails the test unless b's protocol reports exactly the
// values of want, keyed as Report keys them.
func CheckReport(t testing.TB, b *ndis.Binding, want map[string]float64) {
	t.Helper()
	got := Report(t, b)
	if len(got) != len(want) {
		t.Errorf("report %v\nwant %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (reported %v), want %v", k, g, ok, v)
		}
	}
}

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// Kind returns the kind of the detail called name that b's protocol
// reports first, and whether there is one.
func Kind(b *ndis.Binding, name string) (ndis.DetailKind, bool) {
	for _, d := range b.Details() {
		if d.Name == name {
			return d.Kind, true
		}
	}
	return 0, false
}

// Params checks a protocol's parameters for t: the package doc in docFile
// lists its table (tableDoc, from param.Table.Doc), and d takes no
// parameters at all (its defaults). It returns ParamChecks's checks for
// the test's own cases.
func Params(t testing.TB, d ndis.ProtocolDriver, docFile, tableDoc string) (good func(params map[string]string),
	bad func(key string, params map[string]string)) {
	t.Helper()
	paramtest.DocLists(t, docFile, tableDoc)
	good, bad = ParamChecks(t, d)
	good(nil)
	return good, bad
}

// ParamChecks returns checks of d's ValidateParams for t: good fails
// the test unless it takes params, bad unless it refuses them with a
// *ndis.ParamError naming d and key.
func ParamChecks(t testing.TB, d ndis.ProtocolDriver) (good func(params map[string]string),
	bad func(key string, params map[string]string)) {
	good = func(params map[string]string) {
		t.Helper()
		if err := d.ValidateParams(params); err != nil {
			t.Errorf("ValidateParams(%v) = %v", params, err)
		}
	}
	bad = func(key string, params map[string]string) {
		t.Helper()
		err := d.ValidateParams(params)
		if pe := (*ndis.ParamError)(nil); !errors.As(err, &pe) || pe.Driver != d.Name || pe.Key != key {
			t.Errorf("ValidateParams(%v) = %v, want a ParamError of %s for %s", params, err, d.Name, key)
		}
	}
	return good, bad
}
