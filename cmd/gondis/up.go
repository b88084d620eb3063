package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/control"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/cmd/gondis/internal/metrics"
	"github.com/gondis/gondis/ndis"
)

// Exit codes of `up`.
const (
	exitFailure = 1 // the daemon failed to start or to stop cleanly
	exitConfig  = 2 // the configuration is bad: nothing was started
)

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

type upOptions struct {
	config          string
	metrics         string
	logFormat       string
	printConfig     bool
	shutdownTimeout time.Duration
}

func newUpCommand(g *globals) *cobra.Command {
	o := &upOptions{}
	c := &cobra.Command{
		Use:   "up",
		Short: "Run the daemon in the foreground until SIGINT or SIGTERM",
		Long: `Run the daemon in the foreground: add the configured adapters, open their bindings,
serve the control socket, and on SIGINT or SIGTERM take every adapter down (pause, halt).

Without --config it runs the embedded default, which needs no privileges: a loopback
adapter loop0 and a pair of simulated NICs sim0 <-> sim1 with traffic and echo protocols
bound; sim0's device raises a fatal error every 3 s, so its driver asks for a reset and the
adapter recovers. On a terminal it shows a live table; otherwise it logs (log/slog).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, g, o) },
	}
	f := c.Flags()
	f.StringVarP(&o.config, "config", "c", "", "configuration `FILE` (YAML); default: the embedded configuration")
	f.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. "+metrics.DefaultAddr+"); overrides the file's metrics")
	f.StringVar(&o.logFormat, "log-format", "text", "log format when not showing the table: text or json")
	f.BoolVar(&o.printConfig, "print-config", false, "print the embedded default configuration and exit")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long shutting down may take")
	return c
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(daemon.Known())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	return config.Parse(path, data, daemon.Known())
}

// newLogger returns the daemon's logger: text or JSON on w, at Info, or
// only errors when the live table shows the rest.
func newLogger(w io.Writer, format string, table bool) *slog.Logger {
	level := slog.LevelInfo
	if table {
		level = slog.LevelError
	}
	hopts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// runUp is `gondis up`: claim the control socket and the metrics listener,
// start the adapters and bindings, serve until a signal, then take
// everything down in order (control API, adapters, metrics).
func runUp(cmd *cobra.Command, g *globals, o *upOptions) error {
	stdout := cmd.OutOrStdout()
	if o.printConfig {
		_, err := stdout.Write(config.DefaultYAML())
		return err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return &exitError{exitConfig, fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return &exitError{exitConfig, fmt.Errorf("config: %w", err)}
	}
	if o.metrics != "" {
		cfg.Metrics = o.metrics
	}

	table := isTerminal(os.Stdout)
	log := newLogger(os.Stderr, o.logFormat, table)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Everything that can fail for want of a resource is claimed before any
	// adapter starts: the control socket, then the metrics listener.
	l, err := control.Listen(g.socket, log)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			err = fmt.Errorf("%w (set XDG_RUNTIME_DIR, or choose a directory you own with --socket)", err)
		}
		return &exitError{exitFailure, err}
	}
	// Events start with Start, after m is set: the hook reads m unlocked.
	var m *metrics.Metrics
	d := daemon.New(cfg, log, daemon.WithEventHook(func(ev ndis.Event) {
		if m != nil {
			m.Observe(ev)
		}
	}))
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	var metricsDone <-chan struct{}
	if cfg.Metrics != "" {
		m = metrics.New(d)
		addr, done, err := m.Serve(metricsCtx, cfg.Metrics, log)
		if err != nil {
			l.Close()
			return &exitError{exitFailure, fmt.Errorf("metrics: %w", err)}
		}
		metricsDone = done
		log.Info("metrics", slog.String("addr", "http://"+addr.String()+"/metrics"))
	}
	waitMetrics := func() {
		stopMetrics()
		if metricsDone != nil {
			<-metricsDone
		}
	}

	startCtx, cancelStart := context.WithTimeout(ctx, 30*time.Second)
	err = d.Start(startCtx)
	cancelStart()
	if err != nil {
		l.Close()
		waitMetrics()
		if errors.Is(err, ndis.StatusInvalidParameter) { // a driver refused its parameters
			return &exitError{exitConfig, fmt.Errorf("config: %w", err)}
		}
		return &exitError{exitFailure, fmt.Errorf("starting: %w", err)}
	}

	srv := control.NewServer(d, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	log.Info("gondis up", slog.String("socket", g.socket), slog.Int("adapters", len(cfg.Adapters)),
		slog.Int("bindings", len(cfg.Bindings)), slog.Int("pid", os.Getpid()))

	var tableDone chan struct{}
	if table {
		tableDone = make(chan struct{})
		go func() {
			defer close(tableDone)
			runTable(ctx, stdout, d, g.socket)
		}()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	stop()
	if tableDone != nil {
		<-tableDone
	}
	log.Info("gondis shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if serveErr == nil {
		_ = srv.Shutdown(sctx)
		serveErr = <-served
	}
	err = d.Close(sctx)
	waitMetrics()
	if table {
		printHalted(stdout, d)
	}
	switch {
	case err != nil:
		return &exitError{exitFailure, fmt.Errorf("shutting down: %w", err)}
	case serveErr != nil && !errors.Is(serveErr, os.ErrClosed):
		return &exitError{exitFailure, fmt.Errorf("control socket: %w", serveErr)}
	}
	for _, h := range d.Hosted() {
		if h[1] != ndis.AdapterHalted.String() {
			return &exitError{exitFailure, fmt.Errorf("shutting down: adapter %s is %s, not Halted", h[0], h[1])}
		}
	}
	log.Info("gondis stopped: every adapter halted")
	return nil
}
