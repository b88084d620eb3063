package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
)

// Client talks to a daemon over its control socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	return &Client{socket: socket, http: &http.Client{Transport: tr}}
}

// APIError is a failure the daemon answered with.
type APIError struct {
	Code int    // the HTTP status
	Msg  string // the daemon's message
}

func (e *APIError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrForbidden) hold for a 403.
func (e *APIError) Is(target error) bool {
	return target == ErrForbidden && e.Code == http.StatusForbidden
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://gondis"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("daemon at %s: %w", c.socket, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e api.Error
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return nil, &APIError{Code: resp.StatusCode, Msg: e.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, method, path string, v any) error {
	resp, err := c.do(ctx, method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// Version asks for the daemon's version.
func (c *Client) Version(ctx context.Context) (api.Version, error) {
	var v api.Version
	return v, c.getJSON(ctx, http.MethodGet, "/v1/version", &v)
}

// Adapters returns every adapter's status.
func (c *Client) Adapters(ctx context.Context) ([]api.Adapter, error) {
	var as []api.Adapter
	return as, c.getJSON(ctx, http.MethodGet, "/v1/adapters", &as)
}

// Adapter returns one adapter's status.
func (c *Client) Adapter(ctx context.Context, name string) (api.Adapter, error) {
	var a api.Adapter
	return a, c.getJSON(ctx, http.MethodGet, "/v1/adapters/"+url.PathEscape(name), &a)
}

// Action runs an action that answers the adapter's status (pause,
// restart) and returns that status.
func (c *Client) Action(ctx context.Context, name, action string) (api.Adapter, error) {
	var a api.Adapter
	return a, c.getJSON(ctx, http.MethodPost, actionPath(name, action), &a)
}

// Reset asks for an operator reset of an adapter and returns what became
// of it. A dropped request is an *APIError with code 409 that says why.
func (c *Client) Reset(ctx context.Context, name string) (api.ResetResult, error) {
	var r api.ResetResult
	return r, c.getJSON(ctx, http.MethodPost, actionPath(name, "reset"), &r)
}

func actionPath(name, action string) string {
	return "/v1/adapters/" + url.PathEscape(name) + "/" + url.PathEscape(action)
}

// Events calls fn for each event of the history and, with follow, for each
// new one until ctx ends or the daemon stops.
func (c *Client) Events(ctx context.Context, follow bool, fn func(api.Event) error) error {
	path := "/v1/events"
	if follow {
		path += "?follow=true"
	}
	resp, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e api.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("daemon sent a bad event: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
