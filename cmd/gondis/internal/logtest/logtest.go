// Package logtest collects the output of a daemon under test: its log
// lines, or a child process's stderr, written from other goroutines while
// the test reads them.
package logtest

import (
	"strings"
	"sync"
)

// Buffer is an io.Writer whose contents can be read while it is written
// to. Its zero value is empty and ready; it is safe from any goroutine.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
