// Command gondis hosts NDIS adapters and their protocol bindings in one
// daemon, and lets an operator look at them and act on them.
//
//	gondis up [--config FILE] [--socket PATH] [--metrics ADDR] [--log-format text|json]
//	gondis status [ADAPTER] [--json]
//	gondis reset ADAPTER
//	gondis pause ADAPTER
//	gondis restart ADAPTER
//	gondis reinit ADAPTER
//	gondis events [--follow] [--json]
//	gondis version
//
// A failed adapter (its driver gave up on it, its resets kept failing) stays
// listed, Halted, with the reason; `reinit` initializes it again, with the
// configuration's parameters and bindings, without restarting the daemon.
//
// `up` runs in the foreground until SIGINT or SIGTERM, then takes every
// adapter down (pause, halt) within a deadline. Without --config it runs an
// embedded default that needs no privileges (`gondis up --print-config`
// shows it). Every other command talks to a running daemon over its
// control socket: HTTP/JSON over a Unix socket, mode 0600 in a 0700
// directory, open only to the daemon's own user and root. The socket is
// $XDG_RUNTIME_DIR/gondis/gondis.sock, else /run/gondis/gondis.sock,
// unless --socket says otherwise.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gondis/gondis/cmd/gondis/internal/control"
)

// version is the program's version; the build may set it with
// -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	control.Version = version
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "gondis: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// globals are the flags every command takes.
type globals struct {
	socket string
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "gondis",
		Short: "Host NDIS adapters and their bindings; watch them, reset them",
		Long: `gondis runs NDIS 6.x miniport adapters in user space. "gondis up" is the daemon;
the other commands talk to a running daemon over its control socket.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.socket, "socket", control.DefaultSocket(), "control socket `PATH`")
	root.AddCommand(newUpCommand(g), newStatusCommand(g),
		newActionCommand(g, "reset", "Ask the adapter's driver for a reset (cause operator); says whether it was queued", resetAction),
		newActionCommand(g, "pause", "Pause the adapter; returns once it is Paused", lifeAction("pause", "paused")),
		newActionCommand(g, "restart", "Restart a paused adapter; returns once it is Running", lifeAction("restart", "restarted")),
		newActionCommand(g, "reinit", "Initialize a failed adapter again and bind its configured protocols again; returns once Running", reinitAction),
		newEventsCommand(g), newVersionCommand(g))
	return root
}
