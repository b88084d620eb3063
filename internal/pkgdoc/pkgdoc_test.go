package pkgdoc

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
)

// moduleRoot returns the directory of the go.mod at or above the test's.
// The names the checker must catch, written in parts so that this file
// does not itself cite them.
var (
	up     = "../" + "shared"
	design = "DESIGN" + ".md"
	notes  = "NDIS-RESET" + ".md"
	style  = "STYLE" + ".md"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

// TestRepository: every package of the module has one package doc, and no
// file cites one the repository does not have.
func TestRepository(t *testing.T) {
	fsys := os.DirFS(moduleRoot(t))
	for _, check := range []func(fs.FS) ([]Problem, error){PackageDocs, Citations, GoVersion} {
		for _, p := range run(t, check, fsys) {
			t.Error(p)
		}
	}
}

// TestGoVersion: the README must name go.mod's version exactly.
func TestGoVersion(t *testing.T) {
	for _, c := range []struct {
		mod, readme string
		ok          bool
	}{
		{"module m\n\ngo 1.26.8\n", "Go 1.26.8 or later.", true},
		{"module m\n\ngo 1.26.8\n", "Needs Go 1.26.8.", true},
		{"module m\n\ngo 1.26.8\n", "Needs Go 1.26.8", true},
		{"module m\n\ngo 1.26\n", "Go 1.26 or later", true},
		{"module m\n\ngo 1.26.8\n", "Go 1.26 or later", false},
		{"module m\n\ngo 1.26\n", "Go 1.26.8 or later", false},
		{"module m\n\ngo 1.26.8\n", "Go 1.26.80", false},
		{"module m\n", "Go 1.26", false},
	} {
		got := run(t, GoVersion, tree(map[string]string{"go.mod": c.mod, "README.md": c.readme}))
		if (len(got) == 0) != c.ok {
			t.Errorf("go.mod %q, README %q: %v; want ok %v", c.mod, c.readme, got, c.ok)
		}
	}
}

// tree is a file system of the files given as path → text.
func tree(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

// run runs check on fsys and returns the problems it finds as text; an
// error fails the test.
func run(t *testing.T, check func(fs.FS) ([]Problem, error), fsys fs.FS) []string {
	t.Helper()
	ps, err := check(fsys)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// TestPackageDocs: what each kind of missing or misplaced package doc is
// reported as, and what is not a package.
func TestPackageDocs(t *testing.T) {
	fsys := tree(map[string]string{
		"go.mod": "module example.com/m\n",
		// Good: a doc in one file of several, and a command.
		"good/doc.go":         "// Package good is fine.\npackage good\n",
		"good/good.go":        "package good\n",
		"cmd/tool/main.go":    "// Command tool is fine.\npackage main\n",
		"good/good_test.go":   "package good\n", // tests need no doc
		"onlytests/x_test.go": "package onlytests\n",
		// Not packages of the module.
		"testdata/bad.go":   "package bad\n",
		".hidden/bad.go":    "package bad\n",
		"_skip/bad.go":      "package bad\n",
		"nested/go.mod":     "module example.com/nested\n",
		"nested/bad/bad.go": "package bad\n",
		// Bad.
		"none/a.go":          "// A comment, but not the package's.\n\npackage none\n",
		"two/a.go":           "// Package two is here.\npackage two\n",
		"two/b.go":           "// Package two is here too.\npackage two\n",
		"oslinux/x_linux.go": "// Package oslinux is only on Linux.\npackage oslinux\n",
		"oslinux/x_other.go": "//go:build !linux\n\npackage oslinux\n",
		"tagged/x.go":        "//go:build linux\n\n// Package tagged is only on Linux.\npackage tagged\n",
		"tagged/y.go":        "package tagged\n",
		"wrong/x.go":         "// This package does things.\npackage wrong\n",
		"cmd/other/main.go":  "// Package main is a command.\npackage main\n",
	})
	got := run(t, PackageDocs, fsys)
	want := []string{
		`cmd/other: package doc in main.go begins "Package main is a command."; want "Command other ..."`,
		"none: no package doc (a // Package none comment above the package clause of one file)",
		"oslinux: package doc in x_linux.go, which is not built on every system",
		"tagged: package doc in x.go, which is not built on every system",
		"two: package doc in a.go and b.go; keep it in one file",
		`wrong: package doc in x.go begins "This package does things."; want "Package wrong ..."`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("PackageDocs:\n got %q\nwant %q", got, want)
	}
}

// TestCitations: citations of files outside the repository or missing from
// it are reported with their lines; files that are there, URLs, wildcard
// names and Go code outside comments are not.
func TestCitations(t *testing.T) {
	fsys := tree(map[string]string{
		"go.mod":         "module example.com/m\n",
		"docs/RESET.md":  "# Reset\n\nThe engine is `ndis/reset.go`; see also RESET.md, ../README.md\nand ../../README.md.\n",
		"README.md":      "See docs/RESET.md,\n" + design + " §2 and " + up + "/" + style + ".\nhttps://example.com/x/NOTES.md and github.com/o/r/blob/main/X.md are links.\n",
		"ndis/reset.go":  "// Package ndis. See reset.go, docs/RESET.md and\n// " + notes + ".\npackage ndis\n\nvar s = \"" + design + "\" // a string is not a citation\n",
		"ndis/hang.go":   "package ndis\n\n/* the rules live in\n   ../" + up + " */\n\n// Linux-only code sits in _linux.go files; *_test.go too.\nvar x int\n",
		"conf/a.yaml":    "# see gone.yaml\nkey: 1\n",
		"other/LICENSE":  design + " is not read: not a doc file by its name\n",
		"testdata/x.md":  design + "\n",
		"ndis/up/doc.go": "// Package up cites ../../docs/RESET.md and ../../../outside.md.\npackage up\n",
	})
	got := run(t, Citations, fsys)
	slices.Sort(got)
	want := []string{
		"README.md:2: cites " + up + ", which is outside the repository",
		"README.md:2: cites " + up + "/" + style + ", which is outside the repository",
		"README.md:2: cites " + design + ", which is not in the repository",
		"conf/a.yaml:1: cites gone.yaml, which is not in the repository",
		"docs/RESET.md:4: cites ../../README.md, which is outside the repository",
		"ndis/hang.go:4: cites " + up + ", which is outside the repository",
		"ndis/reset.go:2: cites " + notes + ", which is not in the repository",
		"ndis/up/doc.go:1: cites ../../../outside.md, which is outside the repository",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Citations:\n got %q\nwant %q", got, want)
	}
}
