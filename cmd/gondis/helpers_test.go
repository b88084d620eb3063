package main

import (
	"errors"
	"os/exec"
	stdregexp "regexp"
)

func regexp(s string) *stdregexp.Regexp { return stdregexp.MustCompile(s) }

func asExit(err error, ee **exec.ExitError) bool { return errors.As(err, ee) }
