package ndis

import (
	"reflect"
	"runtime"
	"strings"
)

// pkgPrefix is the prefix of the function names of this package's frames:
// its import path and a dot.
var pkgPrefix = reflect.TypeFor[Adapter]().PkgPath() + "."

// calledFromRuntime reports whether the calling goroutine is inside a
// handler the runtime called: a frame of this package lies below the
// caller of the exported function that asks. Only a call that must not
// wait for its own handler asks (Close), never the datapath: a stack walk
// costs microseconds.
func calledFromRuntime() bool {
	var pcs [64]uintptr
	// Skip runtime.Callers, calledFromRuntime and the exported function.
	for skip := 3; ; {
		n := runtime.Callers(skip, pcs[:])
		frames := runtime.CallersFrames(pcs[:n])
		for {
			f, more := frames.Next()
			if strings.HasPrefix(f.Function, pkgPrefix) {
				return true
			}
			if !more {
				break
			}
		}
		if n < len(pcs) {
			return false
		}
		skip += n
	}
}
