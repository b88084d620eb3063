// Package control is the daemon's control API: HTTP/JSON over a Unix
// socket (see package api for the endpoints), with every connection's peer
// credentials checked, and the client the CLI uses. There is no TCP
// listener.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
)

// Version is the program's version, set by the main package.
var Version = "dev"

// actionTimeout bounds a pause, restart or initialization requested over
// the API.
const actionTimeout = 30 * time.Second

// Server serves the control API for one daemon.
type Server struct {
	d    *daemon.Daemon
	log  *slog.Logger
	http *http.Server
	stop chan struct{} // closed by Shutdown: ends event streams
}

// NewServer returns a server for d.
func NewServer(d *daemon.Daemon, log *slog.Logger) *Server {
	s := &Server{d: d, log: log, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", s.version)
	mux.HandleFunc("GET /v1/adapters", s.adapters)
	mux.HandleFunc("GET /v1/adapters/{name}", s.adapter)
	mux.HandleFunc("POST /v1/adapters/{name}/{action}", s.action)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// Serve serves connections from l until Shutdown. It returns nil after
// Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown ends event streams, stops accepting, and waits for requests in
// progress within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	return s.http.Shutdown(ctx)
}

func (s *Server) version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Version{Version: Version, GoVersion: runtime.Version(), PID: os.Getpid()})
}

func (s *Server) adapters(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.d.Adapters())
}

func (s *Server) adapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	a, ok := s.d.Adapter(name)
	if !ok {
		s.unknownAdapter(w, name)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	if !readBody(w, r) {
		return
	}
	name, action := r.PathValue("name"), r.PathValue("action")
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	var (
		answer any // the adapter's status, unless the action answers more
		err    error
	)
	code := http.StatusOK
	attrs := []any{slog.String("action", action), slog.String("adapter", name)}
	switch action {
	case "reset":
		var rr api.ResetResult
		rr, err = s.d.Reset(name)
		answer, code = rr, http.StatusAccepted
		attrs = append(attrs, slog.String("outcome", rr.Outcome))
	case "pause":
		err = s.d.Pause(ctx, name)
	case "restart":
		err = s.d.Restart(ctx, name)
	case "initialize":
		err = s.d.Reinitialize(ctx, name)
	default:
		writeError(w, http.StatusNotFound, "unknown action "+quote(action)+": want reset, pause, restart or initialize")
		return
	}
	switch {
	case err == nil:
		s.log.Info("operator action", attrs...)
		if answer == nil {
			answer, _ = s.d.Adapter(name)
		}
		writeJSON(w, code, answer)
	case errors.Is(err, daemon.ErrUnknownAdapter):
		s.unknownAdapter(w, name)
	case errors.Is(err, daemon.ErrConflict):
		s.log.Info("operator action refused", append(attrs, slog.String("why", err.Error()))...)
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// unknownAdapter answers 404 for an adapter the daemon does not hold,
// listing those it does.
func (s *Server) unknownAdapter(w http.ResponseWriter, name string) {
	known := "none"
	if names := s.d.Names(); len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	writeError(w, http.StatusNotFound, "unknown adapter "+quote(name)+" (known: "+known+")")
}

// readBody reads an optional JSON object body of at most api.MaxBody bytes;
// it answers 400 or 413 and returns false for anything else.
func readBody(w http.ResponseWriter, r *http.Request) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "request body larger than the limit")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return false
	case len(strings.TrimSpace(string(body))) == 0:
		return true
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		writeError(w, http.StatusBadRequest, "request body is not a JSON object: "+err.Error())
		return false
	}
	if len(obj) != 0 {
		writeError(w, http.StatusBadRequest, "this request takes no fields")
		return false
	}
	return true
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	follow := false
	switch v := r.URL.Query().Get("follow"); v {
	case "", "0", "false":
	case "1", "true":
		follow = true
	default:
		writeError(w, http.StatusBadRequest, "follow="+quote(v)+": want true or false")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	if !follow {
		w.WriteHeader(http.StatusOK)
		for _, e := range s.d.Events() {
			if enc.Encode(e) != nil {
				return
			}
		}
		return
	}
	past, sub := s.d.Follow()
	defer sub.Close()
	w.WriteHeader(http.StatusOK)
	for _, e := range past {
		if enc.Encode(e) != nil {
			return
		}
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for {
		select {
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			if enc.Encode(e) != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Error: msg})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
