package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client talks to a running daemon's API.
type client struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error response of the API.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Fields  []struct {
		Path    string `json:"path"`
		Message string `json:"message"`
	} `json:"fields"`
}

// Error implements error, listing the field errors of an invalid definition.
func (e *apiError) Error() string {
	var b strings.Builder
	if e.Status != 0 { // 0: the error came inside a stream
		fmt.Fprintf(&b, "%s (%d): %s", e.Code, e.Status, e.Message)
	} else {
		fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	}
	for _, f := range e.Fields {
		if f.Path == "" { // the document as a whole (a syntax error)
			fmt.Fprintf(&b, "\n  %s", f.Message)
			continue
		}
		fmt.Fprintf(&b, "\n  %s: %s", f.Path, f.Message)
	}
	return b.String()
}

func newClient(addr, token string) *client {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &client{base: strings.TrimRight(addr, "/"), token: token, http: &http.Client{CheckRedirect: checkRedirect}}
}

// errRedirect is the error of a change the daemon answered with a
// redirect.
var errRedirect = errors.New("redirect not followed")

// checkRedirect follows the redirects of reads only. Go's client follows
// a 307 or 308 with the same method and body: a DELETE of one resource
// redirected to another (as ServeMux does to a cleaned path) would delete
// that other. The API never redirects a change, so a redirect there is an
// error.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
		return fmt.Errorf("%w: the daemon answered %s %s with a redirect to %s, which a change never gets",
			errRedirect, m, via[0].URL.EscapedPath(), req.URL.EscapedPath())
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// seg returns id as a segment of an API path: percent-encoded, so that
// '/', '?', '%', spaces and the like stay in the segment. url.PathEscape
// leaves "." and ".." alone, which a URL resolves to the segment's
// parent: request refuses them.
func seg(id string) string { return url.PathEscape(id) }

// checkPath refuses an API path (escaped, without its query) with an
// empty, "." or ".." segment, plain or percent-encoded: such a segment
// is an id no mob, member, run or session has, and one that URL
// resolution removes, so the request would reach another resource (the
// mob of DELETE /v1/mobs/victim/members/..).
func checkPath(path string) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			u = s
		}
		if u == "" || u == "." || u == ".." {
			return fmt.Errorf("%w: %q cannot be an id: no id is empty, \".\" or \"..\" (in a URL's path, they name another resource)", errUsage, u)
		}
	}
	return nil
}

func (c *client) request(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Request, error) {
	p, _, _ := strings.Cut(path, "?")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends a request and returns the raw JSON of a 2xx answer, or the
// API's typed error.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte) (json.RawMessage, error) {
	raw, _, err := c.doStatus(ctx, method, path, contentType, body)
	return raw, err
}

// doStatus is do that also returns the answer's status.
func (c *client) doStatus(ctx context.Context, method, path, contentType string, body []byte) (json.RawMessage, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.request(ctx, method, path, contentType, rd)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return nil, resp.StatusCode, responseError(resp)
	}
	raw, err := io.ReadAll(resp.Body)
	return raw, resp.StatusCode, err
}

// transportError is the error of a request that got no answer to read.
func (c *client) transportError(err error) error {
	if errors.Is(err, errRedirect) {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("mobd at %s: %w", c.base, err)
	}
	return fmt.Errorf("mobd at %s: %w (is the daemon running? set --addr or MOBD_ADDR)", c.base, err)
}

// responseError reads a failed answer's body into the API's typed error.
func responseError(resp *http.Response) error {
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the %d answer: %w", resp.StatusCode, err)
	}
	var eb struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(data, &eb) == nil && eb.Error != nil {
		eb.Error.Status = resp.StatusCode
		return eb.Error
	}
	return &apiError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(data))}
}

// getJSON GETs path and decodes the answer into out.
func (c *client) getJSON(ctx context.Context, path string, out any) (json.RawMessage, error) {
	raw, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return raw, nil
}

// postJSON POSTs v as JSON and decodes the answer into out.
func (c *client) postJSON(ctx context.Context, path string, v, out any) (json.RawMessage, error) {
	raw, _, err := c.postJSONStatus(ctx, path, v, out)
	return raw, err
}

// postJSONStatus is postJSON that also returns the answer's status.
func (c *client) postJSONStatus(ctx context.Context, path string, v, out any) (json.RawMessage, int, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, 0, err
	}
	raw, status, err := c.doStatus(ctx, http.MethodPost, path, "application/json", body)
	if err != nil {
		return nil, status, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, status, fmt.Errorf("decode %s: %w", path, err)
		}
	}
	return raw, status, nil
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID   string
	Name string
	Data []byte
}

// errStop ends an event stream from a handler.
var errStop = errors.New("stop")

// events reads /v1/events with query from after. With follow it keeps
// reading live events, reconnecting with Last-Event-ID when the daemon
// goes away (a restart), until fn returns errStop or ctx ends. fn sees
// every event once.
func (c *client) events(ctx context.Context, query url.Values, after uint64, follow bool, fn func(sseEvent) error) error {
	query.Set("follow", strconv.FormatBool(follow))
	backoff := 100 * time.Millisecond
	for {
		err := c.readEvents(ctx, query, &after, fn)
		switch {
		case errors.Is(err, errStop):
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !follow && errors.Is(err, io.EOF):
			return nil
		case !follow:
			return err
		}
		// A refusal is final, and so is an error event that ended the
		// stream (Status 0): the daemon said what went wrong.
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 {
			return err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *client) readEvents(ctx context.Context, query url.Values, after *uint64, fn func(sseEvent) error) error {
	req, err := c.request(ctx, http.MethodGet, "/v1/events?"+query.Encode(), "", nil)
	if err != nil {
		return err
	}
	if *after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(*after, 10))
	}
	return c.sse(req, func(ev sseEvent) error {
		if ev.Name == "error" {
			return streamError(ev)
		}
		if ev.ID != "" {
			if n, err := strconv.ParseUint(ev.ID, 10, 64); err == nil {
				*after = n
			}
		}
		return fn(ev)
	})
}

// streamError is the error an "error" event of a stream carries: the
// daemon's typed error ({"error":{"code":…,"message":…}}) that ended it.
func streamError(ev sseEvent) error {
	var eb struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(ev.Data, &eb); err != nil || eb.Error == nil {
		return fmt.Errorf("the daemon ended the stream with an error: %s", ev.Data)
	}
	return fmt.Errorf("the daemon ended the stream with an error: %w", eb.Error)
}

// sse sends req, whose answer is a Server-Sent Event stream, and hands the
// events to fn (see parseSSE). A refused request returns the API's typed
// error.
func (c *client) sse(req *http.Request, fn func(sseEvent) error) error {
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	return parseSSE(resp.Body, fn)
}

// parseSSE reads events from r until EOF or fn fails.
func parseSSE(r io.Reader, fn func(sseEvent) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev sseEvent
	var data bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err // io.EOF when the daemon ends the stream
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if data.Len() > 0 || ev.Name != "" {
				ev.Data = bytes.TrimSuffix(data.Bytes(), []byte("\n"))
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = sseEvent{}, bytes.Buffer{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		}
	}
}
