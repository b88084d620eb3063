package main

import (
	"errors"
	"testing"

	"github.com/gondis/gondis/ndis"
)

// TestRun runs the tour: every frame is accounted for.
func TestRun(t *testing.T) {
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

func TestParseFrames(t *testing.T) {
	if n, err := parseFrames(nil); n != totalFrames || err != nil {
		t.Errorf("no parameters: %d, %v", n, err)
	}
	if n, err := parseFrames(map[string]string{"frames": "64"}); n != 64 || err != nil {
		t.Errorf("frames=64: %d, %v", n, err)
	}
	for _, params := range []map[string]string{{"frames": "0"}, {"frames": "many"}, {"size": "60"}} {
		var pe *ndis.ParamError
		if _, err := parseFrames(params); !errors.As(err, &pe) || pe.Driver != "counter" {
			t.Errorf("%v: %v, want a ParamError", params, err)
		}
	}
	if err := counterDriver().ValidateParams(map[string]string{"frames": "-1"}); err == nil {
		t.Error("ValidateParams took frames=-1")
	}
}
