package pkgdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Problem is one finding.
type Problem struct {
	Path   string // slash-separated, relative to the root; a directory for a package
	Line   int    // 1-based; 0 for a whole package or file
	Detail string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return p.Path + ": " + p.Detail
	}
	return fmt.Sprintf("%s:%d: %s", p.Path, p.Line, p.Detail)
}

// walk calls fn for every file the go tool would see as part of the module
// rooted at fsys: it skips directories whose names begin with "." or "_",
// testdata, and nested modules.
func walk(fsys fs.FS, fn func(name string) error) error {
	return fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return fn(name)
		}
		base := path.Base(name)
		if name != "." {
			if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || base == "testdata" {
				return fs.SkipDir
			}
			if _, err := fs.Stat(fsys, path.Join(name, "go.mod")); err == nil {
				return fs.SkipDir
			}
		}
		return nil
	})
}

// PackageDocs reports every package that has no package doc, has it in more
// than one file (go doc would run them together), has it only in a file
// built for some systems, or whose doc does not begin as Go's convention
// says: "Package name ..." or, for a command, "Command dir ...". A package
// is a directory's non-test .go files.
func PackageDocs(fsys fs.FS) ([]Problem, error) {
	byDir := map[string][]string{}
	err := walk(fsys, func(name string) error {
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			byDir[path.Dir(name)] = append(byDir[path.Dir(name)], name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Problem
	for _, dir := range slices.Sorted(maps.Keys(byDir)) {
		p, err := packageDoc(fsys, dir, byDir[dir])
		if err != nil {
			return nil, err
		}
		if p != "" {
			out = append(out, Problem{Path: dir, Detail: p})
		}
	}
	return out, nil
}

// packageDoc checks one package and returns what is wrong, or "".
func packageDoc(fsys fs.FS, dir string, files []string) (string, error) {
	fset := token.NewFileSet()
	var pkg string
	var docs []*ast.File
	var docFiles []string
	for _, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", err
		}
		f, err := parser.ParseFile(fset, name, src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return "", err
		}
		pkg = f.Name.Name
		if f.Doc != nil {
			docs = append(docs, f)
			docFiles = append(docFiles, path.Base(name))
		}
	}
	switch {
	case len(docs) == 0:
		return "no package doc (a // Package " + pkg + " comment above the package clause of one file)", nil
	case len(docs) > 1:
		return "package doc in " + strings.Join(docFiles, " and ") + "; keep it in one file", nil
	case constrained(docs[0]) || osArchFile(docFiles[0]):
		return "package doc in " + docFiles[0] + ", which is not built on every system", nil
	}
	want := "Package " + pkg + " "
	if pkg == "main" {
		want = "Command " + path.Base(dir) + " "
	}
	if text := docs[0].Doc.Text(); !strings.HasPrefix(text, want) {
		first, _, _ := strings.Cut(text, "\n")
		return fmt.Sprintf("package doc in %s begins %q; want %q", docFiles[0], first, want+"..."), nil
	}
	return "", nil
}

// constrained reports whether a file has a build constraint.
func constrained(f *ast.File) bool {
	for _, g := range f.Comments {
		if g.Pos() > f.Package {
			break
		}
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build") || strings.HasPrefix(c.Text, "// +build") {
				return true
			}
		}
	}
	return false
}

// Known GOOS and GOARCH values, which as file-name suffixes constrain a
// file as a build constraint does.
var (
	knownOS   = strings.Fields("aix android darwin dragonfly freebsd hurd illumos ios js linux nacl netbsd openbsd plan9 solaris wasip1 windows zos")
	knownArch = strings.Fields("386 amd64 amd64p32 arm armbe arm64 arm64be loong64 mips mipsle mips64 mips64le mips64p32 mips64p32le ppc ppc64 ppc64le riscv riscv64 s390 s390x sparc sparc64 wasm")
)

// osArchFile reports whether a file name ends in _GOOS or _GOARCH before
// its extension (either also covers _GOOS_GOARCH).
func osArchFile(name string) bool {
	parts := strings.Split(strings.TrimSuffix(name, ".go"), "_")
	if len(parts) < 2 {
		return false
	}
	last := parts[len(parts)-1]
	return slices.Contains(knownOS, last) || slices.Contains(knownArch, last)
}

// docExts are the files whose whole text is documentation; in .go files
// only comments are read.
var docExts = []string{".md", ".txt", ".yaml", ".yml"}

// citation matches a path that names a file by its extension (Markdown, Go,
// YAML or text), with or without directories before it.
var citation = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9]\.(?:md|go|ya?ml|txt)\b`)

// outside matches the way a file outside the repository is cited without an
// extension.
// outsideDir is the folder beside the repository that holds notes no
// reader of the repository has; written in two parts so that this file
// does not name it itself.
const outsideDir = "../" + "shared"

var outside = regexp.MustCompile(regexp.QuoteMeta(outsideDir) + `\b`)

// Citations reports every citation, in a .go file's comments or anywhere in
// a doc file, of a file the repository does not have: a path that is not
// there relative to the citing file's directory nor to the root, or that
// leaves the repository. URLs and wildcard names (*_test.go, _linux.go) are
// not citations.
func Citations(fsys fs.FS) ([]Problem, error) {
	var out []Problem
	err := walk(fsys, func(name string) error {
		var texts []text
		switch {
		case strings.HasSuffix(name, ".go"):
			ts, err := goComments(fsys, name)
			if err != nil {
				return err
			}
			texts = ts
		case slices.Contains(docExts, path.Ext(name)):
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			texts = []text{{line: 1, s: string(b)}}
		default:
			return nil
		}
		for _, t := range texts {
			out = append(out, citations(fsys, name, t)...)
		}
		return nil
	})
	return out, err
}

// text is a piece of a file and the line it starts on.
type text struct {
	line int
	s    string
}

// goComments returns the comments of a Go file.
func goComments(fsys fs.FS, name string) ([]text, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var out []text
	for _, g := range f.Comments {
		for _, c := range g.List {
			out = append(out, text{line: fset.Position(c.Pos()).Line, s: c.Text})
		}
	}
	return out, nil
}

// citations checks the citations in one piece of a file.
func citations(fsys fs.FS, name string, t text) []Problem {
	var out []Problem
	lineOf := func(off int) int { return t.line + strings.Count(t.s[:off], "\n") }
	for _, m := range outside.FindAllStringIndex(t.s, -1) {
		out = append(out, Problem{Path: name, Line: lineOf(m[0]), Detail: "cites " + t.s[m[0]:m[1]] + ", which is outside the repository"})
	}
	for _, m := range citation.FindAllStringIndex(t.s, -1) {
		ref := t.s[m[0]:m[1]]
		if m[0] > 0 && strings.ContainsRune("*:/@", rune(t.s[m[0]-1])) || strings.HasPrefix(ref, "_") || inURL(t.s, m[0], m[1]) {
			continue
		}
		if p := resolve(fsys, name, ref); p != "" {
			out = append(out, Problem{Path: name, Line: lineOf(m[0]), Detail: p})
		}
	}
	return out
}

// inURL reports whether the citation s[off:end] is part of a URL or a
// module path: its word contains "://" or begins with a host name.
func inURL(s string, off, end int) bool {
	start := strings.LastIndexAny(s[:off], " \t\n\"'`(<[") + 1
	word := s[start:end]
	return strings.Contains(word, "://") || strings.HasPrefix(word, "github.com/") || strings.HasPrefix(word, "golang.org/")
}

// resolve returns what is wrong with a citation, or "".
func resolve(fsys fs.FS, from, ref string) string {
	ref = strings.TrimPrefix(ref, "./")
	for _, p := range []string{path.Join(path.Dir(from), ref), path.Clean(ref)} {
		if p == ".." || strings.HasPrefix(p, "../") {
			return "cites " + ref + ", which is outside the repository"
		}
		if _, err := fs.Stat(fsys, p); err == nil {
			return ""
		}
	}
	return "cites " + ref + ", which is not in the repository"
}

// goVersion matches the go directive of a go.mod file.
var goVersion = regexp.MustCompile(`(?m)^go ([0-9][0-9.]*)\s*$`)

// GoVersion reports whether the README at the root names the Go version of
// go.mod's go line ("Go 1.26.8", not another release), so that the two
// cannot drift apart.
func GoVersion(fsys fs.FS) ([]Problem, error) {
	mod, err := fs.ReadFile(fsys, "go.mod")
	if err != nil {
		return nil, err
	}
	m := goVersion.FindSubmatch(mod)
	if m == nil {
		return []Problem{{Path: "go.mod", Detail: "no go line"}}, nil
	}
	readme, err := fs.ReadFile(fsys, "README.md")
	if err != nil {
		return nil, err
	}
	want := regexp.MustCompile(`\bGo ` + regexp.QuoteMeta(string(m[1])) + `(?:[^0-9.]|\.\D|\.?$)`)
	if !want.Match(readme) {
		return []Problem{{Path: "README.md", Detail: "does not say Go " + string(m[1]) + ", the version of go.mod's go line"}}, nil
	}
	return nil, nil
}
