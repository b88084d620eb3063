package logtest_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/logtest"
)

// TestConcurrentWrites: writes from several goroutines all land, whole,
// and reading while they run is safe (under -race).
func TestConcurrentWrites(t *testing.T) {
	var buf logtest.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				fmt.Fprintf(&buf, "w%d-%d\n", i, j)
				_ = buf.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(buf.String(), "\n"); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
}
