package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/control"
)

// requestTimeout bounds every client request but `events --follow`.
const requestTimeout = 45 * time.Second

func newStatusCommand(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [ADAPTER]",
		Short: "Show every adapter, or one in detail",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			cl := control.NewClient(g.socket)
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				a, err := cl.Adapter(ctx, args[0])
				return show(w, asJSON, a, err, writeDetail)
			}
			as, err := cl.Adapters(ctx)
			return show(w, asJSON, as, err, writeTable)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// show writes what the daemon answered, as JSON or as text, or returns its
// error.
func show[T any](w io.Writer, asJSON bool, v T, err error, text func(io.Writer, T)) error {
	switch {
	case err != nil:
		return err
	case asJSON:
		return writeJSON(w, v)
	}
	text(w, v)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeDetail prints one adapter's status, counter by counter, then what
// its miniport and each bound protocol report of themselves.
func writeDetail(w io.Writer, a api.Adapter) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("adapter", a.Name)
	row("driver", a.Driver)
	row("state", a.State)
	if a.FailureReason != "" {
		row("failed", a.FailureReason)
	}
	row("mac", a.MAC)
	row("link", a.Link)
	row("bindings", boundProtocols(a))
	row("tx frames/s", fmt.Sprintf("%.0f", a.TxPerSecond))
	row("rx frames/s", fmt.Sprintf("%.0f", a.RxPerSecond))
	row("sent nbls / frames / bytes", fmt.Sprintf("%d / %d / %d", a.SentNBLs, a.SentFrames, a.SentBytes))
	row("send completed / failed / rejected", fmt.Sprintf("%d / %d / %d", a.SendCompleted, a.SendFailed, a.SendRejected))
	row("received nbls / frames / bytes", fmt.Sprintf("%d / %d / %d", a.ReceivedNBLs, a.ReceivedFrames, a.ReceivedBytes))
	row("returned / dropped / during reset", fmt.Sprintf("%d / %d / %d", a.ReturnedNBLs, a.ReceiveDropped, a.ReceiveDuringReset))
	row("violations", a.Violations)
	if a.LastResetStatus != "" {
		row("last reset", fmt.Sprintf("%s in %v", a.LastResetStatus, a.LastResetDuration))
	}
	writeDetails(row, a.Driver, a.Details)
	for _, b := range a.Bindings {
		writeDetails(row, b.Protocol, b.Details)
	}
	causes := make([]string, 0, len(a.Resets))
	for c := range a.Resets {
		causes = append(causes, c)
	}
	sort.Strings(causes)
	for _, c := range causes {
		r := a.Resets[c]
		row("resets "+c, fmt.Sprintf("requested %d, coalesced %d, dropped %d, performed %d, failed %d, last %v, max %v",
			r.Requested, r.Coalesced, r.Dropped, r.Performed, r.Failed, r.LastDuration, r.MaxDuration))
	}
	tw.Flush()
}

// boundProtocols lists the protocols bound to the adapter: "echo, traffic".
func boundProtocols(a api.Adapter) string {
	protocols := make([]string, len(a.Bindings))
	for i, b := range a.Bindings {
		protocols[i] = b.Protocol
	}
	return strings.Join(protocols, ", ")
}

// writeDetails writes what one driver or protocol reports of itself, a row
// a name, each row prefixed with whose it is: "tap rcv_ok". The values of
// a name told apart by labels share its row: `queue="0": 4, queue="1": 6`.
// Empty texts (no last error) are left out.
func writeDetails(row func(k string, v any), who string, ds []api.Detail) {
	var names []string
	values := make(map[string][]string)
	for _, d := range ds {
		if !d.Numeric() && d.Text == "" {
			continue
		}
		if _, ok := values[d.Name]; !ok {
			names = append(names, d.Name)
		}
		v := d.Show()
		if l := d.Labelled(); l != "" {
			v = l + ": " + v
		}
		values[d.Name] = append(values[d.Name], v)
	}
	for _, n := range names {
		row(who+" "+n, strings.Join(values[n], ", "))
	}
}

// act is what an action command asks the daemon; it returns the line to
// print.
type act func(ctx context.Context, cl *control.Client, name string) (string, error)

// newActionCommand returns a command that acts on one adapter.
func newActionCommand(g *globals, name, short string, do act) *cobra.Command {
	return &cobra.Command{
		Use:   name + " ADAPTER",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), requestTimeout)
			defer cancel()
			line, err := do(ctx, control.NewClient(g.socket), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), line)
			return nil
		},
	}
}

// lifeAction is an act for an action that answers the adapter's status:
// it says what was done, "sim1: paused (state Paused)".
func lifeAction(action, done string) act {
	return func(ctx context.Context, cl *control.Client, name string) (string, error) {
		a, err := cl.Action(ctx, name, action)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: %s (state %s)", a.Name, done, a.State), nil
	}
}

// reinitAction initializes a failed adapter again and says what is bound
// to it again: "sim0: initialized again (state Running; bound: traffic)".
func reinitAction(ctx context.Context, cl *control.Client, name string) (string, error) {
	a, err := cl.Action(ctx, name, "initialize")
	if err != nil {
		return "", err
	}
	bound := "no bindings"
	if len(a.Bindings) > 0 {
		bound = "bound: " + boundProtocols(a)
	}
	return fmt.Sprintf("%s: initialized again (state %s; %s)", a.Name, a.State, bound), nil
}

// resetAction asks for an operator reset and says what became of it:
// "sim0: reset queued (state Running)", or, as the error, "sim0: dropped:
// a reset is in progress".
func resetAction(ctx context.Context, cl *control.Client, name string) (string, error) {
	r, err := cl.Reset(ctx, name)
	var ae *control.APIError
	switch {
	case errors.As(err, &ae) && ae.Code == http.StatusConflict:
		return "", fmt.Errorf("%s: %w", name, err)
	case err != nil:
		return "", err
	}
	return fmt.Sprintf("%s: %s (state %s)", r.Name, r.Message, r.State), nil
}

func newEventsCommand(g *globals) *cobra.Command {
	var follow, asJSON bool
	c := &cobra.Command{
		Use:   "events",
		Short: "Show the recent adapter events; with --follow, then new ones",
		Long: `Show the recent adapter events: life-cycle changes, reset requested / RESET_START /
RESET_END with status and duration, link state, verifier violations. With --follow, keep
printing new events until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var cancel context.CancelFunc
			if follow {
				ctx, cancel = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			} else {
				ctx, cancel = context.WithTimeout(ctx, requestTimeout)
			}
			defer cancel()
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			return control.NewClient(g.socket).Events(ctx, follow, func(e api.Event) error {
				if asJSON {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintln(w, formatEvent(e))
				return err
			})
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per line")
	return c
}

// formatEvent is one event as a line: time, adapter, what. Reset events
// carry their NDIS names: RESET_START, RESET_END.
func formatEvent(e api.Event) string {
	var what string
	switch e.Kind {
	case "state":
		what = "state " + e.State
	case "reset-requested":
		what = "reset requested, cause " + e.Cause
	case "reset-start":
		what = "RESET_START cause " + e.Cause
	case "reset-pending":
		what = "reset pending, cause " + e.Cause
	case "reset-restore":
		what = "restoring addressing, cause " + e.Cause
	case "reset-end":
		what = fmt.Sprintf("RESET_END status %s duration %v cause %s", e.Status, e.Duration, e.Cause)
	case "reset-escalated":
		what = fmt.Sprintf("reset escalated, status %s, cause %s", e.Status, e.Cause)
	case "failed":
		what, e.Detail = "FAILED: "+e.Detail, ""
	case api.KindReinitialized:
		what = "initialized again by the operator"
	case "link":
		what, e.Detail = "link "+e.Detail, ""
	case "violation":
		what, e.Detail = "VERIFIER "+e.Detail, ""
	default:
		what = e.Kind
	}
	if e.Detail != "" { // what has not said it
		what += " (" + e.Detail + ")"
	}
	return fmt.Sprintf("%s %-8s %s", e.Time.Format("15:04:05.000000"), e.Adapter, what)
}

func newVersionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and, if one is running, the daemon's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "gondis %s (%s)\n", version, runtime.Version())
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			v, err := control.NewClient(g.socket).Version(ctx)
			if err != nil {
				fmt.Fprintf(w, "daemon: not reachable: %v\n", err)
				return nil
			}
			fmt.Fprintf(w, "daemon: gondis %s (%s), pid %d\n", v.Version, v.GoVersion, v.PID)
			return nil
		},
	}
}
