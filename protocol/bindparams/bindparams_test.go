package bindparams_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/protocol/bindparams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegistry(t *testing.T) {
	var r bindparams.Registry
	if got := r.Get("traffic", "sim0"); got == nil || len(got) != 0 {
		t.Errorf("empty registry: %v", got)
	}
	in := map[string]string{"rate": "10"}
	r.Set("traffic", "sim0", in)
	in["rate"] = "changed"
	got := r.Get("traffic", "sim0")
	if got["rate"] != "10" {
		t.Errorf("Set kept the caller's map: %v", got)
	}
	got["rate"] = "changed"
	if r.Get("traffic", "sim0")["rate"] != "10" {
		t.Error("Get returned the registry's map")
	}
	if len(r.Get("echo", "sim0")) != 0 || len(r.Get("traffic", "sim1")) != 0 {
		t.Error("parameters leaked to another key")
	}
	r.Delete("traffic", "sim0")
	if len(r.Get("traffic", "sim0")) != 0 {
		t.Error("Delete kept the parameters")
	}
}
