package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
)

// tableEvents is how many recent events the live table shows under it.
const tableEvents = 8

// runTable redraws the live table every second until ctx ends.
func runTable(ctx context.Context, w io.Writer, d *daemon.Daemon, socket string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var b strings.Builder
		b.WriteString("\x1b[H\x1b[2J") // home, clear
		fmt.Fprintf(&b, "gondis up — control socket %s — Ctrl-C to stop\n\n", socket)
		writeTable(&b, d.Adapters())
		evs := d.Events()
		if len(evs) > tableEvents {
			evs = evs[len(evs)-tableEvents:]
		}
		b.WriteString("\nrecent events:\n")
		for _, e := range evs {
			b.WriteString("  " + formatEvent(e) + "\n")
		}
		_, _ = io.WriteString(w, b.String())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// writeTable writes the adapter table: the `status` listing and the live
// table alike. A failed adapter's state is "Failed"; under the table, a
// line for each says why.
func writeTable(w io.Writer, as []api.Adapter) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADAPTER\tDRIVER\tSTATE\tTX/S\tRX/S\tRESETS (drv/hang/oid/op)\tLAST RESET\tLINK")
	var failed []string
	for _, a := range as {
		last := "-"
		if a.LastResetDuration > 0 || a.LastResetStatus != "" {
			last = fmt.Sprintf("%v %s", a.LastResetDuration.Round(time.Microsecond), shortStatus(a.LastResetStatus))
		}
		state := a.State
		if a.FailureReason != "" {
			state = "Failed"
			failed = append(failed, failedLine(a))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.0f\t%d/%d/%d/%d\t%s\t%s\n", a.Name, a.Driver, state,
			a.TxPerSecond, a.RxPerSecond, a.Resets["driver"].Performed, a.Resets["hang"].Performed,
			a.Resets["oid-timeout"].Performed, a.Resets["operator"].Performed, last, shortLink(a.Link))
	}
	tw.Flush()
	if len(failed) > 0 {
		fmt.Fprintln(w)
		for _, l := range failed {
			fmt.Fprintln(w, l)
		}
	}
}

// failedLine says why an adapter failed, and what brings it back.
func failedLine(a api.Adapter) string {
	return fmt.Sprintf("%s failed: %s (gondis reinit %s initializes it again)", a.Name, a.FailureReason, a.Name)
}

func shortStatus(s string) string { return strings.TrimPrefix(s, "NDIS_STATUS_") }

func shortLink(s string) string {
	s = strings.TrimPrefix(s, "MediaConnectState")
	if s == "" {
		return "-"
	}
	return strings.ToLower(s)
}

// printHalted prints each adapter's final state after shutdown.
func printHalted(w io.Writer, d *daemon.Daemon) {
	fmt.Fprintln(w)
	for _, h := range d.Hosted() {
		fmt.Fprintf(w, "%s: %s\n", h[0], h[1])
	}
	fmt.Fprintln(w, "gondis stopped")
}
