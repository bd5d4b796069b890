package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 10 * time.Second

// wireMsg is one decoded line written by the runtime.
type wireMsg struct {
	Raw    string
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *wireErr        `json:"error"`
}

type wireErr struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// envelope is an EventEnvelope as the tests read it.
type envelope struct {
	EventID     string          `json:"event_id"`
	Source      json.RawMessage `json:"source"`
	Seq         uint64          `json:"seq"`
	TimestampMS uint64          `json:"timestamp_ms"`
	MobID       string          `json:"mob_id"`
	Payload     json.RawMessage `json:"payload"`
}

func (e envelope) Type() string {
	var p struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.Type
}

func (e envelope) field(name string) json.RawMessage {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(e.Payload, &m)
	return m[name]
}

// simClient drives one in-process runtime over pipes.
type simClient struct {
	t      testing.TB
	in     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error
	rdone  chan struct{}

	mu      sync.Mutex
	msgs    []*wireMsg
	garbage []string
	signal  chan struct{}
	eof     bool
	nextID  int
	closed  bool
	result  error
	wmu     sync.Mutex
}

// transcriptDir lets a developer keep every test transcript for offline
// schema validation (SIM_TEST_TRANSCRIPT_DIR).
func testOptions(t testing.TB, opts sim.Options) sim.Options {
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if dir := os.Getenv("SIM_TEST_TRANSCRIPT_DIR"); dir != "" && opts.TranscriptPath == "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		opts.TranscriptPath = filepath.Join(dir, fmt.Sprintf("%s-%d.jsonl", name, time.Now().UnixNano()))
	}
	return opts
}

func startSim(t testing.TB, opts sim.Options) *simClient {
	t.Helper()
	opts = testOptions(t, opts)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &simClient{t: t, in: inW, cancel: cancel, done: make(chan error, 1), rdone: make(chan struct{}), signal: make(chan struct{}, 1)}
	go func() {
		err := sim.Serve(ctx, inR, outW, opts)
		_ = outW.Close()
		_ = inR.CloseWithError(io.ErrClosedPipe)
		c.done <- err
	}()
	go c.readLoop(outR)
	t.Cleanup(func() { c.close() })
	return c
}

func (c *simClient) readLoop(r io.Reader) {
	defer close(c.rdone)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		m := &wireMsg{Raw: line}
		c.mu.Lock()
		if err := json.Unmarshal([]byte(line), m); err != nil {
			c.garbage = append(c.garbage, line)
		} else {
			c.msgs = append(c.msgs, m)
		}
		c.mu.Unlock()
		c.poke()
	}
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	c.poke()
}

func (c *simClient) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// close ends the input and waits for Serve to return.
func (c *simClient) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.result
	}
	c.closed = true
	c.mu.Unlock()
	_ = c.in.Close()
	var err error
	select {
	case err = <-c.done:
	case <-time.After(waitTimeout):
		c.cancel()
		err = <-c.done
		c.t.Errorf("Serve did not return after EOF")
	}
	c.cancel()
	<-c.rdone
	c.mu.Lock()
	c.result = err
	c.mu.Unlock()
	return err
}

func (c *simClient) send(line string) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("write request: %v", err)
	}
}

// request sends a request and returns its id.
func (c *simClient) request(method string, params any) string {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	p, err := json.Marshal(params)
	if err != nil {
		c.t.Fatalf("marshal params: %v", err)
	}
	if params == nil {
		p = []byte("{}")
	}
	c.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, p))
	return fmt.Sprint(id)
}

// waitFor returns the first message (in arrival order) matching pred.
// pred runs with the client locked and must not call back into it.
func (c *simClient) waitFor(what string, pred func(*wireMsg) bool) *wireMsg {
	c.t.Helper()
	return c.waitAfter(0, what, pred)
}

// waitAfter is waitFor ignoring the first start messages.
func (c *simClient) waitAfter(start int, what string, pred func(*wireMsg) bool) *wireMsg {
	c.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		for i, m := range c.msgs {
			if i >= start && pred(m) {
				c.mu.Unlock()
				return m
			}
		}
		eof := c.eof
		c.mu.Unlock()
		if eof {
			c.t.Fatalf("output ended while waiting for %s", what)
		}
		select {
		case <-c.signal:
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (c *simClient) response(id string) *wireMsg {
	c.t.Helper()
	return c.waitFor("response "+id, func(m *wireMsg) bool { return m.Method == "" && string(m.ID) == id })
}

// call sends a request and waits for its response.
func (c *simClient) call(method string, params any) *wireMsg {
	c.t.Helper()
	return c.response(c.request(method, params))
}

// ok calls method and decodes its result into out (which may be nil).
func (c *simClient) ok(method string, params any, out any) json.RawMessage {
	c.t.Helper()
	m := c.call(method, params)
	if m.Error != nil {
		c.t.Fatalf("%s failed: %d %s (data %s)", method, m.Error.Code, m.Error.Message, m.Error.Data)
	}
	if out != nil {
		if err := json.Unmarshal(m.Result, out); err != nil {
			c.t.Fatalf("%s: decode result %s: %v", method, m.Result, err)
		}
	}
	return m.Result
}

// fail calls method and returns its error (failing if it succeeded).
func (c *simClient) fail(method string, params any) *wireErr {
	c.t.Helper()
	m := c.call(method, params)
	if m.Error == nil {
		c.t.Fatalf("%s unexpectedly succeeded: %s", method, m.Result)
	}
	return m.Error
}

// messages returns a snapshot of everything received.
func (c *simClient) messages() []*wireMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*wireMsg(nil), c.msgs...)
}

func (c *simClient) garbageLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.garbage...)
}

// indexOf returns the arrival index of m.
func (c *simClient) indexOf(target *wireMsg) int {
	for i, m := range c.messages() {
		if m == target {
			return i
		}
	}
	return -1
}

// events returns the session/event envelopes for sessionID received so far.
func (c *simClient) events(sessionID string) []envelope {
	var out []envelope
	for _, m := range c.messages() {
		if m.Method != "session/event" {
			continue
		}
		var p struct {
			SessionID string   `json:"session_id"`
			Event     envelope `json:"event"`
		}
		if err := json.Unmarshal(m.Params, &p); err != nil {
			c.t.Fatalf("bad session/event: %v", err)
		}
		if p.SessionID == sessionID {
			out = append(out, p.Event)
		}
	}
	return out
}

// eventsBefore returns the session's events that arrived before msg.
func (c *simClient) eventsBefore(sessionID string, msg *wireMsg) []envelope {
	idx := c.indexOf(msg)
	var out []envelope
	for i, m := range c.messages() {
		if i >= idx {
			break
		}
		if m.Method != "session/event" {
			continue
		}
		var p struct {
			SessionID string   `json:"session_id"`
			Event     envelope `json:"event"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.SessionID == sessionID {
			out = append(out, p.Event)
		}
	}
	return out
}

func types(evs []envelope) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type()
	}
	return out
}

// runResult mirrors WireRunResult.
type runResult struct {
	SessionID         string          `json:"session_id"`
	SessionRef        *string         `json:"session_ref"`
	Text              string          `json:"text"`
	Turns             int             `json:"turns"`
	ToolCalls         int             `json:"tool_calls"`
	Usage             map[string]int  `json:"usage"`
	TerminalCauseKind *string         `json:"terminal_cause_kind"`
	StructuredOutput  json.RawMessage `json:"structured_output"`
	ExtractionError   *struct {
		LastOutput string `json:"last_output"`
		Attempts   int    `json:"attempts"`
		Reason     string `json:"reason"`
	} `json:"extraction_error"`
}

func (c *simClient) create(params map[string]any) runResult {
	c.t.Helper()
	var r runResult
	c.ok("session/create", params, &r)
	return r
}

func (c *simClient) turn(sessionID, prompt string) runResult {
	c.t.Helper()
	var r runResult
	c.ok("turn/start", map[string]any{"session_id": sessionID, "prompt": prompt}, &r)
	return r
}

// waitServe waits for Serve to return without closing the input.
func (c *simClient) waitServe() error {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.mu.Lock()
		c.closed = true
		c.result = err
		c.mu.Unlock()
		_ = c.in.Close()
		c.cancel()
		<-c.rdone
		return err
	case <-time.After(waitTimeout):
		c.t.Fatalf("Serve did not return")
		return errors.New("timeout")
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }
