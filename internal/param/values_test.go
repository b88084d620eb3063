package param

import "testing"

func TestInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{{"68", 68, true}, {"9000", 9000, true}, {"67", 0, false}, {"70000", 0, false}, {"x", 0, false}, {"", 0, false}} {
		got, err := Int(c.in, 68, 65535)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Int(%q) = %d, %v", c.in, got, err)
		}
	}
}

func TestBitsPerSecond(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{{"1000", true}, {"0", false}, {"-1", false}, {"18446744073709551615", false}, {"fast", false}} {
		if _, err := BitsPerSecond(c.in); (err == nil) != c.ok {
			t.Errorf("BitsPerSecond(%q): %v", c.in, err)
		}
	}
}
