package enum_test

import (
	"testing"

	"github.com/gondis/gondis/internal/enum"
)

type kind uint8

func TestName(t *testing.T) {
	names := []string{0: "zero", 2: "two"}
	for _, c := range []struct {
		v    kind
		want string
	}{
		{0, "zero"},
		{1, "kind(1)"}, // a gap
		{2, "two"},
		{3, "kind(3)"}, // beyond the table
		{255, "kind(255)"},
	} {
		if got := enum.Name(names, c.v, "kind"); got != c.want {
			t.Errorf("Name(%d) = %q, want %q", c.v, got, c.want)
		}
	}
}
