package paramtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDocLists(t *testing.T) {
	const table = "mtu   largest payload\nbatch  frames a receive indication carries\n"
	dir := t.TempDir()
	write := func(name, src string) string {
		file := filepath.Join(dir, name+".go")
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	listed := write("listed", "// Package p takes\n//\n//\tmtu   largest payload\n//\tbatch  frames a receive indication carries\n//\n// and nothing else.\npackage p\n")
	if err := docLists(listed, table); err != nil {
		t.Errorf("a package doc that lists the table: %v", err)
	}
	for name, src := range map[string]string{
		"line missing":        "// Package p takes\n//\n//\tmtu   largest payload\n//\n// and nothing else.\npackage p\n",
		"not in one piece":    "// Package p takes\n//\n//\tmtu   largest payload\n//\n//\tbatch  frames a receive indication carries\npackage p\n",
		"not the package doc": "package p\n\n// Params:\n//\n//\tmtu   largest payload\n//\tbatch  frames a receive indication carries\nvar x int\n",
	} {
		if err := docLists(write(name, src), table); err == nil {
			t.Errorf("%s: docLists found the table", name)
		}
	}
	if err := docLists(filepath.Join(dir, "absent.go"), table); err == nil {
		t.Error("docLists of a missing file: no error")
	}
}
