// Package paramtest checks, in a driver's tests, that its package doc lists
// its parameter table (param.Table.Doc), so that the two cannot drift apart.
package paramtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// DocLists fails the test unless the package doc in the Go file lists the
// parameter table: tableDoc, each line indented by a tab, in one piece, as
// a code block of the doc.
func DocLists(t testing.TB, file, tableDoc string) {
	t.Helper()
	if err := docLists(file, tableDoc); err != nil {
		t.Error(err)
	}
}

func docLists(file, tableDoc string) error {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return err
	}
	block := "\t" + strings.ReplaceAll(strings.TrimSuffix(tableDoc, "\n"), "\n", "\n\t") + "\n"
	if f.Doc == nil || !strings.Contains(f.Doc.Text(), block) {
		return fmt.Errorf("the package doc in %s does not list the parameters as the table does:\n%s", file, block)
	}
	return nil
}
