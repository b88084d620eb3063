package tap_test

import (
	"context"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestNotATAPAdapter: StatsOf, Interface and OffloadOf report false for an
// adapter of another driver, on every system.
func TestNotATAPAdapter(t *testing.T) {
	rt := ndis.New()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("runtime Close: %v", err)
		}
	})
	if err := rt.RegisterMiniportDriver(ndistest.NewFake().Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	a, err := rt.AddAdapter(context.Background(), "fake0", "fake", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tap.StatsOf(a); ok {
		t.Error("StatsOf of a fake adapter reports true")
	}
	if _, ok := tap.Interface(a); ok {
		t.Error("Interface of a fake adapter reports true")
	}
	if _, ok := tap.OffloadOf(a); ok {
		t.Error("OffloadOf of a fake adapter reports true")
	}
}
