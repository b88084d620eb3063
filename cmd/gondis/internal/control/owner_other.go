//go:build !unix

package control

import "os"

// fileOwner is unknown off Unix.
func fileOwner(os.FileInfo) (uint32, bool) { return 0, false }
