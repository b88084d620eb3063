package paramtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDocLists(t *testing.T) {
	const table = "mtu   largest payload\nbatch  frames a receive indication carries\n"
	dir := t.TempDir()
	for _, c := range []struct {
		name, src string
		ok        bool
	}{
		{"listed", "// Package p takes\n//\n//\tmtu   largest payload\n//\tbatch  frames a receive indication carries\n//\n// and nothing else.\npackage p\n", true},
		{"line missing", "// Package p takes\n//\n//\tmtu   largest payload\n//\n// and nothing else.\npackage p\n", false},
		{"not in one piece", "// Package p takes\n//\n//\tmtu   largest payload\n//\n//\tbatch  frames a receive indication carries\npackage p\n", false},
		{"not the package doc", "package p\n\n// Params:\n//\n//\tmtu   largest payload\n//\tbatch  frames a receive indication carries\nvar x int\n", false},
	} {
		file := filepath.Join(dir, c.name+".go")
		if err := os.WriteFile(file, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := docLists(file, table); (err == nil) != c.ok {
			t.Errorf("%s: docLists = %v, want ok %v", c.name, err, c.ok)
		}
	}
	if err := docLists(filepath.Join(dir, "absent.go"), table); err == nil {
		t.Error("docLists of a missing file: no error")
	}
}
