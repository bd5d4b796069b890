package rpc_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/mobd-dev/mobd/rpc"
	"go.uber.org/zap/zaptest"
)

// peer is a scripted runtime for protocol edge cases the simulator does
// not produce on its own: the test reads the client's requests and writes
// exactly the frames it wants.
type peer struct {
	t    *testing.T
	in   *bufio.Scanner
	out  io.WriteCloser
	rd   io.ReadCloser
	mu   sync.Mutex
	reqs chan map[string]json.RawMessage
}

// newPeer connects a client to a scripted peer, answering the handshake
// with initResult (nil: a default). It returns once connected.
func newPeer(t *testing.T, initResult string, opts rpc.Options) (*peer, *rpc.Client) {
	t.Helper()
	toPeer, fromClient := io.Pipe()
	toClient, fromPeer := io.Pipe()
	p := &peer{t: t, in: bufio.NewScanner(toPeer), out: fromPeer, rd: toPeer, reqs: make(chan map[string]json.RawMessage, 64)}
	p.in.Buffer(nil, 1<<20)
	go func() {
		defer close(p.reqs)
		defer fromPeer.Close() // like a runtime: input closed, output ends
		for p.in.Scan() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(p.in.Bytes(), &m); err != nil {
				t.Errorf("peer: client wrote invalid JSON %q", p.in.Text())
				return
			}
			p.reqs <- m
		}
	}()
	if initResult == "" {
		initResult = `{"server_info":{"name":"peer","version":"0.8.26"},"contract_version":"0.8.26","methods":["initialize","session/create","turn/start"]}`
	}
	type connected struct {
		c   *rpc.Client
		err error
	}
	ch := make(chan connected, 1)
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	go func() {
		c, err := rpc.ConnectStreams(context.Background(), toClient, fromClient, opts)
		ch <- connected{c, err}
	}()
	id := p.expect("initialize")
	p.respond(id, initResult)
	if initResult[0] == '{' && !strings.Contains(initResult, `"0.8.26"`) {
		// An incompatible runtime: connecting must fail with a version error.
		r := <-ch
		if r.err == nil {
			r.c.Close()
			t.Fatal("connected to a runtime with an incompatible contract version")
		}
		if !errors.Is(r.err, rpc.ErrVersionMismatch) || !strings.Contains(r.err.Error(), "0.9.0") {
			t.Fatalf("connect error = %v, want ErrVersionMismatch naming the version", r.err)
		}
		p.close()
		return p, nil
	}
	id = p.expect("capabilities/get")
	p.respond(id, `{"contract_version":{"major":0,"minor":8,"patch":26},"capabilities":[{"id":"sessions","description":"Sessions","status":"Available"},{"id":"skills","description":"Skills","status":{"NotCompiled":{"feature":"skills"}}}]}`)
	r := <-ch
	if r.err != nil {
		t.Fatalf("connect: %v", r.err)
	}
	t.Cleanup(func() {
		r.c.Close()
		p.close()
	})
	return p, r.c
}

func (p *peer) close() {
	_ = p.out.Close()
	_ = p.rd.Close()
	for range p.reqs {
	}
}

// expect reads the next request and checks its method; it returns the raw id.
func (p *peer) expect(method string) string {
	p.t.Helper()
	select {
	case m, ok := <-p.reqs:
		if !ok {
			p.t.Fatalf("peer: client closed before sending %s", method)
		}
		var got string
		_ = json.Unmarshal(m["method"], &got)
		if got != method {
			p.t.Fatalf("peer: got method %q, want %q", got, method)
		}
		return string(m["id"])
	case <-time.After(10 * time.Second):
		p.t.Fatalf("peer: no %s request", method)
		return ""
	}
}

// next returns the next frame the client wrote.
func (p *peer) next() map[string]json.RawMessage {
	p.t.Helper()
	select {
	case m := <-p.reqs:
		return m
	case <-time.After(10 * time.Second):
		p.t.Fatalf("peer: client wrote nothing")
		return nil
	}
}

func (p *peer) send(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.out, line+"\n")
}

func (p *peer) respond(id, result string) {
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result))
}

func (p *peer) fail(id string, code int, msg, data string) {
	if data != "" {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q,"data":%s}}`, id, code, msg, data))
		return
	}
	p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":%q}}`, id, code, msg))
}

const testSession = "0192a6c4-6b5e-7c3f-9a1b-2c3d4e5f6a7b"

var evSeq int

// event returns a session/event notification line.
func event(sid, payload string) string {
	evSeq++
	return fmt.Sprintf(`{"jsonrpc":"2.0","method":"session/event","params":{"session_id":%q,"event":{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4%02x","source":{"type":"session","session_id":%q},"seq":%d,"timestamp_ms":1732540000000,"payload":%s}}}`,
		sid, evSeq%256, sid, evSeq, payload)
}

func runResult(sid, text string) string {
	return fmt.Sprintf(`{"session_id":%q,"text":%q,"turns":1,"tool_calls":0,"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}}`, sid, text)
}

func TestHandshakeToleratesMissingMethods(t *testing.T) {
	_, c := newPeer(t, `{"server_info":{"name":"peer","version":"0.8.26"},"contract_version":"0.8.26"}`, rpc.Options{})
	if c.HasMethod("session/create") {
		t.Fatal("no method list was sent, yet HasMethod reports one")
	}
	if c.HasCapability("mob") {
		t.Fatal("mob capability without mob methods")
	}
	if !c.HasCapability("sessions") || c.HasCapability("skills") {
		t.Fatalf("capabilities = %+v", c.Capabilities())
	}
	err := c.RequireCapability("skills")
	if !errors.Is(err, rpc.ErrCapabilityUnavailable) || !strings.Contains(err.Error(), "NotCompiled") {
		t.Fatalf("RequireCapability(skills) = %v", err)
	}
	if _, err := c.Session(testSession).InvokeSkill(context.Background(), rpc.SkillKey{SourceUUID: "u", SkillName: "s"}, rpc.Text("x")); !errors.Is(err, rpc.ErrCapabilityUnavailable) {
		t.Fatalf("InvokeSkill without skills = %v", err)
	}
}

func TestMalformedFrameFaultsConnection(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := c.CreateSession(ctx, rpc.Text("hi"), rpc.SessionOptions{})
		errc <- err
	}()
	p.expect("session/create")
	p.send(`{"jsonrpc":"2.0","id":3,"result":{"session_id":`)
	if err := <-errc; !errors.Is(err, rpc.ErrProtocol) {
		t.Fatalf("pending call after garbage = %v, want ErrProtocol", err)
	}
	// The fault is permanent: later calls fail at once with the same error,
	// marked as never sent (safe to retry elsewhere).
	if _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); !errors.Is(err, rpc.ErrProtocol) || !errors.Is(err, rpc.ErrNotSent) {
		t.Fatalf("later call = %v, want ErrProtocol and ErrNotSent", err)
	}
	if !errors.Is(c.Err(), rpc.ErrProtocol) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestResponseForUnknownIDFaultsConnection(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	p.send(`{"jsonrpc":"2.0","id":999,"result":{}}`)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still up after a response for a request never sent")
	}
	if err := c.Err(); !errors.Is(err, rpc.ErrProtocol) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Err() = %v", err)
	}
}

func TestLateResponseForAbandonedCallIsDropped(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.ListSessions(ctx, rpc.ListSessionsOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline = %v", err)
	}
	id := p.expect("session/list")
	p.respond(id, `{"sessions":[]}`)
	// The connection must still work.
	errc := make(chan error, 1)
	go func() {
		_, err := c.ListSessions(context.Background(), rpc.ListSessionsOptions{})
		errc <- err
	}()
	id = p.expect("session/list")
	p.respond(id, `{"sessions":[]}`)
	if err := <-errc; err != nil {
		t.Fatalf("call after a late response: %v", err)
	}
}

func TestRemoteErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		data     string
		sentinel error
		wantCode rpc.Code
		details  string
	}{
		{"not found without data", -32001, "", rpc.ErrSessionNotFound, rpc.CodeSessionNotFound, ""},
		{"busy", -32002, "", rpc.ErrSessionBusy, rpc.CodeSessionBusy, ""},
		{"provider", -32010, "", rpc.ErrProviderError, rpc.CodeProviderError, ""},
		{"data code wins", -32024, `{"code":"SUPERVISOR_ROTATION_INCOMPLETE","message":"rotating","details":{"op":"x"}}`, nil, rpc.CodeSupervisorRotationIncomplete, `{"op":"x"}`},
		{"scope denied", -32025, `{"code":"SCOPE_DENIED","message":"no","details":{"required":"admin_host","presented":["list"]}}`, rpc.ErrScopeDenied, rpc.CodeScopeDenied, `{"required":"admin_host","presented":["list"]}`},
		{"stale cursor numeric only", -32027, `{"watermark":5}`, rpc.ErrStaleCursor, rpc.CodeStaleCursor, `{"watermark":5}`},
		{"reason as details", -32013, `{"reason":{"kind":"x"}}`, rpc.ErrAgentError, rpc.CodeAgentError, `{"kind":"x"}`},
		{"unknown number", -31999, "", nil, rpc.Code("-31999"), ""},
	}
	p, c := newPeer(t, "", rpc.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() {
				_, err := c.Session(testSession).Interrupt(context.Background())
				errc <- err
			}()
			id := p.expect("turn/interrupt")
			p.fail(id, tt.code, "boom", tt.data)
			err := <-errc
			var re *rpc.Error
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not *rpc.Error", err)
			}
			if re.Code != tt.wantCode || re.Number != tt.code || re.Method != "turn/interrupt" {
				t.Fatalf("got %+v", re)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if errors.Is(err, rpc.ErrSessionBusy) != (tt.wantCode == rpc.CodeSessionBusy) {
				t.Fatalf("ErrSessionBusy matched wrongly for %v", err)
			}
			if string(re.Details) != tt.details {
				t.Fatalf("details = %s, want %s", re.Details, tt.details)
			}
		})
	}
	var sd rpc.ScopeDenied
	re := &rpc.Error{Details: json.RawMessage(`{"required":"admin_host","presented":["list"]}`)}
	if err := re.DecodeDetails(&sd); err != nil || sd.Required != "admin_host" {
		t.Fatalf("DecodeDetails = %+v, %v", sd, err)
	}
}

// TestStreamOrderingRaces covers events that arrive before the response that
// names their session, and events that arrive after a turn's response: each
// must reach the stream of the turn it belongs to.
func TestStreamOrderingRaces(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{LateEventGrace: 5 * time.Second})
	ctx := context.Background()

	// create-streaming: the session id is unknown until the response.
	st := c.CreateSessionStreaming(ctx, rpc.Text("hello"), rpc.SessionOptions{})
	id := p.expect("session/create")
	p.send(event(testSession, `{"type":"run_started","session_id":"`+testSession+`","input":"hello"}`))
	p.send(event(testSession, `{"type":"text_delta","delta":"Hi "}`))
	// An unrelated session's event must not leak into this stream.
	p.send(event("0192a6c4-0000-7000-8000-000000000000", `{"type":"text_delta","delta":"WRONG"}`))
	p.send(event(testSession, `{"type":"text_delta","delta":"there"}`))
	p.respond(id, runResult(testSession, "Hi there"))
	// Late: the terminal event follows the response.
	p.send(event(testSession, `{"type":"run_completed","session_id":"`+testSession+`","result":"Hi there","usage":{"input_tokens":1,"output_tokens":2}}`))
	text, res, err := st.CollectText()
	if err != nil {
		t.Fatal(err)
	}
	if text != "Hi there" || res.Text != "Hi there" || st.SessionID() != testSession || st.Session() == nil {
		t.Fatalf("text=%q result=%+v session=%q", text, res, st.SessionID())
	}

	// A turn whose response precedes some of its events, followed at once by
	// another turn: the late events belong to the first.
	sess := st.Session()
	first := sess.Stream(ctx, rpc.Text("one"), rpc.TurnOptions{})
	id1 := p.expect("turn/start")
	p.send(event(testSession, `{"type":"text_delta","delta":"a"}`))
	p.respond(id1, runResult(testSession, "ab"))
	second := sess.Stream(ctx, rpc.Text("two"), rpc.TurnOptions{})
	id2 := p.expect("turn/start")
	p.send(event(testSession, `{"type":"text_delta","delta":"b"}`))
	p.send(event(testSession, `{"type":"run_completed","session_id":"`+testSession+`","result":"ab","usage":{"input_tokens":1,"output_tokens":2}}`))
	p.send(event(testSession, `{"type":"text_delta","delta":"c"}`))
	p.send(event(testSession, `{"type":"run_completed","session_id":"`+testSession+`","result":"c","usage":{"input_tokens":1,"output_tokens":1}}`))
	p.respond(id2, runResult(testSession, "c"))
	t1, _, err := first.CollectText()
	if err != nil || t1 != "ab" {
		t.Fatalf("first turn text = %q, %v", t1, err)
	}
	t2, r2, err := second.CollectText()
	if err != nil || t2 != "c" || r2.Text != "c" {
		t.Fatalf("second turn text = %q, %v", t2, err)
	}
	if sess.Text() != "c" {
		t.Fatalf("session text = %q", sess.Text())
	}
}

func TestLateEventGraceEndsStreamWithoutTerminalEvent(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{LateEventGrace: 20 * time.Millisecond})
	st := c.Session(testSession).Stream(context.Background(), rpc.Text("x"), rpc.TurnOptions{})
	id := p.expect("turn/start")
	p.send(event(testSession, `{"type":"text_delta","delta":"x"}`))
	p.respond(id, runResult(testSession, "x"))
	res, err := st.Collect()
	if err != nil || res.Text != "x" {
		t.Fatalf("Collect = %+v, %v", res, err)
	}
}

func TestSubscriptionEventsBeforeOpenResponse(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	type opened struct {
		s   *rpc.Subscription[rpc.Envelope]
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.Session(testSession).SubscribeEvents(context.Background())
		ch <- opened{s, err}
	}()
	id := p.expect("session/stream_open")
	const sid = "7c1d2e3f-0000-4000-8000-000000000001"
	ev := func(seq int, delta string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","method":"session/stream_event","params":{"stream_id":%q,"sequence":%d,"session_id":%q,"event":{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d4e%d","source":{"type":"session","session_id":%q},"seq":%d,"timestamp_ms":1,"payload":{"type":"text_delta","delta":%q}}}}`,
			sid, seq, testSession, seq, testSession, seq, delta)
	}
	p.send(ev(1, "early"))
	p.respond(id, `{"stream_id":"`+sid+`"}`)
	p.send(ev(2, "later"))
	p.send(`{"jsonrpc":"2.0","method":"session/stream_end","params":{"stream_id":"` + sid + `","session_id":"` + testSession + `","ended":true,"outcome":"remote_end"}}`)
	o := <-ch
	if o.err != nil {
		t.Fatal(o.err)
	}
	var got []string
	for env, err := range o.s.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, env.Event.(*rpc.TextDelta).Delta)
	}
	if strings.Join(got, ",") != "early,later" {
		t.Fatalf("events = %v", got)
	}
	if out := o.s.Outcome(); out == nil || out.Outcome != "remote_end" {
		t.Fatalf("outcome = %+v", out)
	}
}

func TestServerRequestForUnknownMethod(t *testing.T) {
	p, _ := newPeer(t, "", rpc.Options{})
	p.send(`{"jsonrpc":"2.0","id":"cb-1","method":"weird/thing","params":{}}`)
	m := p.next()
	if string(m["id"]) != `"cb-1"` || !strings.Contains(string(m["error"]), "-32601") {
		t.Fatalf("reply = %v", m)
	}
}

func TestInvalidArgsNeverReachTheWire(t *testing.T) {
	_, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	s := c.Session(testSession)
	cases := map[string]error{}
	_, cases["bad block"] = c.CreateSession(ctx, rpc.Blocks(rpc.Block{Type: "image"}), rpc.SessionOptions{})
	_, cases["keep alive without name"] = c.CreateSession(ctx, rpc.Text("x"), rpc.SessionOptions{KeepAlive: true})
	_, cases["bad skill ref"] = s.Turn(ctx, rpc.Text("x"), rpc.TurnOptions{SkillRefs: []rpc.SkillKey{{SkillName: "x"}}})
	_, cases["empty session"] = c.ReadSession(ctx, "")
	_, cases["negative offset"] = c.ReadSessionHistory(ctx, testSession, -1, 0)
	_, cases["comms kind"] = s.Send(ctx, rpc.CommsMessage{Kind: "shout"})
	_, cases["config not object"] = c.SetConfig(ctx, []int{1}, nil)
	_, cases["deferred transient"] = c.CreateDeferredSession(ctx, rpc.Text("x"), rpc.SessionOptions{TransientTurnContext: "t"})
	cases["tool without handler"] = c.RegisterTools(ctx, rpc.Tool{Name: "t"})
	for name, err := range cases {
		if !errors.Is(err, rpc.ErrInvalidArgs) {
			t.Errorf("%s: err = %v, want ErrInvalidArgs", name, err)
		}
	}
}

func TestVersionMismatch(t *testing.T) {
	p, c := newPeer(t, `{"server_info":{"name":"peer","version":"0.9.0"},"contract_version":"0.9.0","methods":[]}`, rpc.Options{})
	_ = p
	if c != nil {
		t.Fatal("connected to an incompatible runtime")
	}
}

func TestVersionCompatible(t *testing.T) {
	tests := []struct {
		server, client string
		want           bool
	}{
		{"0.8.26", "0.8.26", true},
		{"0.8.1", "0.8.26", true},
		{"0.8.26-rc.1", "0.8.26", true},
		{"0.8.26+build.5", "0.8.26", true},
		{"0.9.0", "0.8.26", false},
		{"1.0.0", "0.8.26", false},
		{"1.2.0", "1.9.3", true},
		{"2.0.0", "1.9.3", false},
		{"", "0.8.26", false},
		{"0", "0.8.26", false},
		{"x.y", "0.8.26", false},
	}
	for _, tt := range tests {
		if got := rpc.VersionCompatible(tt.server, tt.client); got != tt.want {
			t.Errorf("VersionCompatible(%q, %q) = %v, want %v", tt.server, tt.client, got, tt.want)
		}
	}
}

// TestConcurrentCreatesKeepTheirEvents interleaves the events of two
// sessions being created at once, before either response names its session.
func TestConcurrentCreatesKeepTheirEvents(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	const other = "0192a6c4-6b5e-7c3f-9a1b-000000000002"
	a := c.CreateSessionStreaming(ctx, rpc.Text("a"), rpc.SessionOptions{})
	idA := p.expect("session/create")
	b := c.CreateSessionStreaming(ctx, rpc.Text("b"), rpc.SessionOptions{})
	idB := p.expect("session/create")
	done := `{"type":"run_completed","session_id":"%s","result":"x","usage":{"input_tokens":1,"output_tokens":1}}`
	p.send(event(testSession, `{"type":"text_delta","delta":"a1"}`))
	p.send(event(other, `{"type":"text_delta","delta":"b1"}`))
	p.send(event(testSession, `{"type":"text_delta","delta":"a2"}`))
	p.send(event(other, `{"type":"text_delta","delta":"b2"}`))
	p.send(event(other, fmt.Sprintf(done, other)))
	p.respond(idB, runResult(other, "b1b2"))
	p.send(event(testSession, fmt.Sprintf(done, testSession)))
	p.respond(idA, runResult(testSession, "a1a2"))
	ta, _, errA := a.CollectText()
	tb, _, errB := b.CollectText()
	if errA != nil || errB != nil || ta != "a1a2" || tb != "b1b2" {
		t.Fatalf("a=%q (%v) b=%q (%v)", ta, errA, tb, errB)
	}
}

func TestZeroClientIsNotConnected(t *testing.T) {
	var c rpc.Client
	ctx := context.Background()
	if _, err := c.CreateSession(ctx, rpc.Text("x"), rpc.SessionOptions{}); !errors.Is(err, rpc.ErrNotConnected) {
		t.Fatalf("CreateSession = %v", err)
	}
	if _, err := c.CreateSessionStreaming(ctx, rpc.Text("x"), rpc.SessionOptions{}).Collect(); !errors.Is(err, rpc.ErrNotConnected) {
		t.Fatalf("CreateSessionStreaming = %v", err)
	}
	if _, err := c.Session("s").Turn(ctx, rpc.Text("x"), rpc.TurnOptions{}); !errors.Is(err, rpc.ErrNotConnected) {
		t.Fatalf("Turn = %v", err)
	}
	if _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); !errors.Is(err, rpc.ErrNotConnected) {
		t.Fatalf("ListSessions = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	<-c.Done()
}

// TestLargeLines accepts a multi-megabyte frame and faults, with a clear
// protocol error, on one longer than Options.MaxLineSize (lowered from the
// 64 MiB default to keep the test light).
func TestLargeLines(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{MaxLineSize: 16 << 20})
	big := strings.Repeat("x", 8<<20)
	errc := make(chan error, 1)
	go func() {
		s, err := c.CreateSession(context.Background(), rpc.Text("big"), rpc.SessionOptions{})
		if err == nil && len(s.Text()) != len(big) {
			err = fmt.Errorf("text of %d bytes", len(s.Text()))
		}
		errc <- err
	}()
	id := p.expect("session/create")
	p.respond(id, runResult(testSession, big))
	if err := <-errc; err != nil {
		t.Fatalf("8 MiB frame: %v", err)
	}
	huge := strings.Repeat("y", 16<<20)
	p.send(`{"jsonrpc":"2.0","method":"x","params":{"v":"` + huge + `"}}`)
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("an overlong line did not fault the connection")
	}
	if err := c.Err(); !errors.Is(err, rpc.ErrProtocol) || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("Err() = %v", err)
	}
}

// Every event a stream yields has the envelope ParseEnvelope gives its
// line, whichever way the reader typed and queued it: the fast path's
// template and member tiers (kept compact in the queue) and the general
// path.
func TestStreamEnvelopesAsParsed(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	sess := c.Session(testSession)
	st := sess.Stream(ctx, rpc.Text("hi"), rpc.TurnOptions{})
	id := p.expect("turn/start")
	src := `"source":{"type":"session","session_id":"` + testSession + `"}`
	events := []string{
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d401",` + src + `,"seq":1,"timestamp_ms":1732540000001,"payload":{"type":"run_started","session_id":"` + testSession + `","input":"hi"}}`,
		// The template tier: members in the contract's order.
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d402",` + src + `,"seq":2,"timestamp_ms":1732540000002,"payload":{"type":"text_delta","delta":"Hi "}}`,
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d403",` + src + `,"seq":3,"timestamp_ms":1732540000003,"payload":{"type":"text_delta","delta":"\u00e9\n\"q\""}}`,
		// The member tier: another order, white space, a mob id.
		`{ "seq":4, "payload":{"delta":"there","type":"text_delta"}, "mob_id":"mob-1", "timestamp_ms":1732540000004, ` + src + `, "event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d404" }`,
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d405",` + src + `,"seq":5,"timestamp_ms":1732540000005,"payload":{"type":"reasoning_delta","delta":"hm"}}`,
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d406",` + src + `,"seq":6,"timestamp_ms":1732540000006,"payload":{"type":"text_complete","content":"Hi \u00e9\n\"q\"there"}}`,
		`{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d407",` + src + `,"seq":7,"timestamp_ms":1732540000007,"payload":{"type":"run_completed","session_id":"` + testSession + `","result":"Hi","usage":{"input_tokens":1,"output_tokens":2}}}`,
	}
	for _, ev := range events {
		p.send(`{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"` + testSession + `","event":` + ev + `}}`)
	}
	p.respond(id, runResult(testSession, "Hi"))
	i := 0
	for st.Next() {
		if i >= len(events) {
			t.Fatalf("stream yielded %d events, want %d", i+1, len(events))
		}
		want, err := rpc.ParseEnvelope([]byte(events[i]), rpc.EventOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Envelope(); !reflect.DeepEqual(got, want) {
			t.Errorf("event %d: envelope\n%+v\nwant\n%+v", i, got, want)
		}
		if !reflect.DeepEqual(st.Current(), want.Event) {
			t.Errorf("event %d: Current() = %+v, want %+v", i, st.Current(), want.Event)
		}
		i++
	}
	if err := st.Err(); err != nil || i != len(events) {
		t.Fatalf("stream ended after %d events with %v, want %d events", i, err, len(events))
	}
}

// Lines longer than the reader's buffer are assembled in storage the
// reader reuses for the next long line: what the events of earlier lines
// hold must not change when later lines are read.
func TestLongLinesKeepTheirContent(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	st := c.Session(testSession).Stream(ctx, rpc.Text("hi"), rpc.TurnOptions{})
	id := p.expect("turn/start")
	a, b, r := strings.Repeat("a", 900<<10), strings.Repeat("b", 600<<10), strings.Repeat("r", 700<<10)
	p.send(event(testSession, `{"type":"text_delta","delta":"`+a+`"}`))                                    // fast path, canonical
	p.send(event(testSession, `{"type":"text_delta","delta":"\u0062`+b[1:]+`"}`))                          // fast path, escaped
	p.send(event(testSession, `{"type":"tool_call_requested","id":"t1","name":"n","args":{"x":"`+b+`"}}`)) // general path
	p.send(event(testSession, `{"type":"text_complete","content":"`+a+b+`"}`))                             // fast path
	p.send(event(testSession, `{"type":"run_completed","session_id":"`+testSession+`","result":"`+r+`","usage":{"input_tokens":1,"output_tokens":2}}`))
	p.respond(id, runResult(testSession, r))
	var evs []rpc.Event
	var payloads []string
	for st.Next() {
		evs = append(evs, st.Current())
		payloads = append(payloads, string(st.Envelope().Payload))
	}
	res, err := st.Result()
	if err != nil || len(evs) != 5 {
		t.Fatalf("stream: %d events, %v", len(evs), err)
	}
	if d := evs[0].(*rpc.TextDelta); d.Delta != a {
		t.Errorf("first delta changed: %d bytes, %q...", len(d.Delta), d.Delta[:8])
	}
	if d := evs[1].(*rpc.TextDelta); d.Delta != b {
		t.Errorf("second delta changed: %d bytes", len(d.Delta))
	}
	if !strings.Contains(payloads[2], `"x":"`+b+`"`) {
		t.Errorf("tool call payload changed: %.40q...", payloads[2])
	}
	if tc := evs[3].(*rpc.TextComplete); tc.Content != a+b {
		t.Errorf("text_complete changed: %d bytes", len(tc.Content))
	}
	if rc := evs[4].(*rpc.RunCompleted); rc.Result != r || res.Text != r {
		t.Errorf("run result changed: %d and %d bytes", len(rc.Result), len(res.Text))
	}
}

// A turn's long text comes three times (its text_complete event, its
// run_completed event, its result); the stream makes one string of it.
func TestLongTextSharedByCompleteAndResult(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	st := c.Session(testSession).Stream(context.Background(), rpc.Text("hi"), rpc.TurnOptions{})
	id := p.expect("turn/start")
	text := strings.Repeat("long text ", 2000)
	p.send(event(testSession, `{"type":"text_delta","delta":"`+text+`"}`))
	p.send(event(testSession, `{"type":"text_complete","content":"`+text+`"}`))
	p.send(event(testSession, `{"type":"run_completed","session_id":"`+testSession+`","result":"`+text+`","usage":{"input_tokens":1,"output_tokens":2}}`))
	p.respond(id, runResult(testSession, text))
	var complete, completed string
	for st.Next() {
		switch ev := st.Current().(type) {
		case *rpc.TextComplete:
			complete = ev.Content
		case *rpc.RunCompleted:
			completed = ev.Result
		}
	}
	res, err := st.Result()
	if err != nil || complete != text || completed != text || res.Text != text {
		t.Fatalf("texts of %d, %d and %d bytes, %v", len(complete), len(completed), len(res.Text), err)
	}
	if unsafe.StringData(completed) != unsafe.StringData(complete) || unsafe.StringData(res.Text) != unsafe.StringData(complete) {
		t.Fatal("the run_completed result or the turn result is a copy of the text_complete content")
	}
}
