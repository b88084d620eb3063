// Package pkgdoc checks the repository's documentation, as a test: every
// package has one package doc; no code or doc file cites a file the
// repository does not have (the repository stands alone: what a reader
// needs is in docs/ and in package docs); and the README names the Go
// version of go.mod. The checks read a file system rooted at the module, so
// that they run on the module itself (TestRepository) and on made-up trees
// that prove they fail.
package pkgdoc
