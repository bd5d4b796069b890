package rpc_test

// Tests of the SDK's wire forms against the Meerkat 0.8.26 contract: what
// the client sends is checked with contract.ValidateParams, and what the
// scripted peer answers is checked with contract.ValidateOutbound before it
// is sent, so a test never rests on a message the real runtime would not
// write.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/internal/contract"
	"github.com/mobd-dev/mobd/rpc"
)

var (
	wireOnce     sync.Once
	wireContract *contract.Contract
	wireErr      error
)

// contractFor returns the wire contract, loaded once for the test binary.
func contractFor(t *testing.T) *contract.Contract {
	t.Helper()
	wireOnce.Do(func() {
		dir, err := contract.Dir()
		if err != nil {
			wireErr = err
			return
		}
		wireContract, wireErr = contract.Load(dir)
	})
	if wireErr != nil {
		t.Fatalf("load contract: %v", wireErr)
	}
	return wireContract
}

// expectParams reads the next request, checks its method and that its
// params are valid for the contract, and returns its id and params.
func (p *peer) expectParams(t *testing.T, method string) (string, json.RawMessage) {
	t.Helper()
	m := p.next()
	var got string
	_ = json.Unmarshal(m["method"], &got)
	if got != method {
		t.Fatalf("peer: got method %q, want %q", got, method)
	}
	if err := contractFor(t).ValidateParams(method, m["params"]); err != nil {
		t.Fatalf("%s params %s break the contract: %v", method, m["params"], err)
	}
	return string(m["id"]), m["params"]
}

// compact returns the JSON text s on one line, as the framing needs.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("scripted JSON %s: %v", s, err)
	}
	return b.String()
}

// respondValid answers request id of method with result, after checking
// that the response is one the contract allows.
func (p *peer) respondValid(t *testing.T, method, id, result string) {
	t.Helper()
	frame := compact(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result))
	if err := contractFor(t).ValidateOutbound(contract.KindResponse, method, []byte(frame)); err != nil {
		t.Fatalf("scripted %s response breaks the contract: %v", method, err)
	}
	p.send(frame)
}

// notifyValid sends a notification, after checking it against the contract.
func (p *peer) notifyValid(t *testing.T, method, params string) {
	t.Helper()
	frame := compact(t, fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":%s}`, method, params))
	if err := contractFor(t).ValidateOutbound(contract.KindNotification, method, []byte(frame)); err != nil {
		t.Fatalf("scripted %s breaks the contract: %v", method, err)
	}
	p.send(frame)
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// call runs f on a goroutine and returns its error on a channel.
func call(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return")
		return nil
	}
}

// mobInit is a handshake answer offering the mob methods.
const mobInit = `{"server_info":{"name":"peer","version":"0.8.26"},"contract_version":"0.8.26","methods":["initialize","session/create","turn/start","mob/create","mob/list"]}`

func params(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ---- 1. comms/send ----

func TestCommsSendFollowsContract(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	s := c.Session(testSession)
	ctx := context.Background()
	tests := []struct {
		name   string
		msg    rpc.CommsMessage
		result string
		want   map[string]string // key → exact JSON; "" means absent
	}{
		{"input with empty body", rpc.CommsMessage{Kind: "input", Source: "rpc", Stream: "none"},
			`{"kind":"input_accepted","interaction_id":"i-1","stream_reserved":false}`,
			map[string]string{"body": `""`, "source": `"rpc"`, "content_taint": ""}},
		{"input with blocks only", rpc.CommsMessage{Kind: "input", Blocks: []rpc.Block{rpc.TextBlock("hi")}, AllowSelfSession: true},
			`{"kind":"input_accepted","interaction_id":"i-2","stream_reserved":false}`,
			map[string]string{"body": `""`, "blocks": `[{"type":"text","text":"hi"}]`, "allow_self_session": "true"}},
		{"peer_message with empty body", rpc.CommsMessage{Kind: "peer_message", To: "bob"},
			`{"kind":"peer_message_sent","envelope_id":"e-1","delivery":"acked"}`,
			map[string]string{"body": `""`, "to": `"bob"`, "content_taint": ""}},
		{"peer_message declared clean", rpc.CommsMessage{Kind: "peer_message", To: "bob", Body: "ping", ContentTaint: rpc.TaintDeclareClean},
			`{"kind":"peer_message_sent","envelope_id":"e-2","delivery":"acked"}`,
			map[string]string{"content_taint": `{"declare":"clean"}`}},
		{"peer_request declared tainted", rpc.CommsMessage{Kind: "peer_request", To: "bob", Intent: "checksum_token",
			Params: json.RawMessage(`{"subject":"abc"}`), ContentTaint: rpc.TaintDeclareTainted},
			`{"kind":"peer_request_sent","envelope_id":"e-3","interaction_id":"i-3","request_id":"r-3","stream_reserved":false,"delivery":"acked"}`,
			map[string]string{"content_taint": `{"declare":"tainted"}`, "body": ""}},
		{"peer_response undeclared", rpc.CommsMessage{Kind: "peer_response", To: "bob", InReplyTo: "r-3", Status: "completed",
			ContentTaint: rpc.TaintUndeclared},
			`{"kind":"peer_response_sent","envelope_id":"e-4","in_reply_to":"r-3","delivery":"acked"}`,
			map[string]string{"content_taint": `"undeclared"`, "result": ""}},
		{"peer_lifecycle dismiss", rpc.CommsMessage{Kind: "peer_lifecycle", To: "bob", LifecycleKind: "mob.dismiss",
			Params: json.RawMessage(`{"peer":"bob"}`)},
			`{"kind":"peer_lifecycle_sent","envelope_id":"e-5","delivery":"acked"}`,
			map[string]string{"lifecycle_kind": `"mob.dismiss"`, "body": "", "idempotency_key": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res *rpc.SendResult
			done := call(func() (err error) { res, err = s.Send(ctx, tt.msg); return err })
			id, raw := p.expectParams(t, "comms/send")
			got := params(t, raw)
			for k, want := range tt.want {
				if (want == "") != (got[k] == nil) || (want != "" && !sameJSON(got[k], []byte(want))) {
					t.Errorf("%s = %s, want %s (params %s)", k, got[k], want, raw)
				}
			}
			p.respondValid(t, "comms/send", id, tt.result)
			if err := recv(t, done); err != nil || res == nil || res.Kind == "" {
				t.Fatalf("Send = %+v, %v", res, err)
			}
		})
	}

	// Fields a kind does not take, missing required ones, and the
	// idempotency key comms/send does not have are refused before sending.
	invalid := map[string]rpc.CommsMessage{
		"idempotency key":           {Kind: "input", Body: "x", IdempotencyKey: "k"},
		"body on peer_request":      {Kind: "peer_request", To: "bob", Intent: "checksum_token", Params: json.RawMessage(`{}`), Body: "x"},
		"taint on input":            {Kind: "input", Body: "x", ContentTaint: rpc.TaintDeclareClean},
		"taint on peer_lifecycle":   {Kind: "peer_lifecycle", To: "bob", LifecycleKind: "mob.peer_added", Params: json.RawMessage(`{"peer":"b"}`), ContentTaint: rpc.TaintUndeclared},
		"unknown taint":             {Kind: "peer_message", To: "bob", Body: "x", ContentTaint: "maybe"},
		"to on input":               {Kind: "input", Body: "x", To: "bob"},
		"peer_message without to":   {Kind: "peer_message", Body: "x"},
		"lifecycle without params":  {Kind: "peer_lifecycle", To: "bob", LifecycleKind: "mob.peer_added"},
		"self session on peer kind": {Kind: "peer_message", To: "bob", Body: "x", AllowSelfSession: true},
		"invalid block":             {Kind: "input", Body: "x", Blocks: []rpc.Block{{Type: "image"}}},
		"unknown kind":              {Kind: "shout"},
	}
	for name, msg := range invalid {
		if _, err := s.Send(ctx, msg); !errors.Is(err, rpc.ErrInvalidArgs) {
			t.Errorf("%s: Send = %v, want ErrInvalidArgs", name, err)
		}
	}
	done := call(func() error { _, err := s.Peers(ctx); return err })
	id := p.expect("comms/peers") // nothing else was sent
	p.respond(id, `{"peers":[]}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestSendTaintOverrideJSON(t *testing.T) {
	for _, tt := range []struct {
		v    rpc.SendTaintOverride
		wire string
	}{
		{rpc.TaintDeclareClean, `{"declare":"clean"}`},
		{rpc.TaintDeclareTainted, `{"declare":"tainted"}`},
		{rpc.TaintUndeclared, `"undeclared"`},
		{"", `null`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.wire {
			t.Errorf("Marshal(%q) = %s, %v; want %s", tt.v, b, err, tt.wire)
		}
		var back rpc.SendTaintOverride
		if err := json.Unmarshal([]byte(tt.wire), &back); err != nil || back != tt.v {
			t.Errorf("Unmarshal(%s) = %q, %v", tt.wire, back, err)
		}
	}
	for _, bad := range []string{`"clean"`, `{"declare":"dirty"}`, `1`} {
		var v rpc.SendTaintOverride
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%s) accepted %q", bad, v)
		}
	}
	if _, err := json.Marshal(rpc.SendTaintOverride("maybe")); err == nil {
		t.Error("an unknown override marshalled")
	}
}

// ---- 2. subscription scope and unreadable events ----

const (
	envA  = `{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d401","source":{"type":"session","session_id":"` + testSession + `"},"seq":1,"timestamp_ms":1732540000000,"payload":{"type":"text_delta","delta":"a"}}`
	envB  = `{"event_id":"6f1c2d3e-4b5a-4c6d-8e7f-90a1b2c3d402","source":{"type":"session","session_id":"` + testSession + `"},"seq":2,"timestamp_ms":1732540000001,"payload":{"type":"text_delta","delta":"b"}}`
	frame = `[{"scope":"primary","session_id":"` + testSession + `"},{"scope":"mob_member","flow_run_id":"run-1","agent_identity":"w-1"}]`
)

func TestSessionSubscriptionScopeAndInvalidEvents(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	var sub *rpc.Subscription[rpc.Envelope]
	done := call(func() (err error) { sub, err = c.Session(testSession).SubscribeEvents(ctx); return err })
	id, _ := p.expectParams(t, "session/stream_open")
	p.respondValid(t, "session/stream_open", id, `{"stream_id":"st-1"}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	ev := func(seq int, rest string) string {
		return fmt.Sprintf(`{"stream_id":"st-1","sequence":%d,"session_id":%q,%s}`, seq, testSession, rest)
	}
	// Scope in the params (protocol.md §4.5).
	p.notifyValid(t, "session/stream_event", ev(1, `"scope_id":"mob:m/w-1","scope_path":`+frame+`,"event":`+envA))
	// An event the SDK cannot read: it must be surfaced, not skipped.
	p.send(`{"jsonrpc":"2.0","method":"session/stream_event","params":` + ev(2, `"event":`+strings.Replace(envB, "6f1c", "6F1C", 1)) + `}`)
	// Malformed scope in the params.
	p.send(`{"jsonrpc":"2.0","method":"session/stream_event","params":` + ev(3, `"scope_id":"s","scope_path":{},"event":`+envB) + `}`)
	// No event at all.
	p.send(`{"jsonrpc":"2.0","method":"session/stream_event","params":{"stream_id":"st-1","sequence":4,"session_id":"` + testSession + `"}}`)
	// The contract's ScopedAgentEvent inside the event: a bare payload.
	p.send(`{"jsonrpc":"2.0","method":"session/stream_event","params":` + ev(5, `"event":{"scope_id":"x","scope_path":[],"event":{"type":"text_delta","delta":"bare"}}`) + `}`)
	p.notifyValid(t, "session/stream_event", ev(6, `"event":`+envB))
	p.notifyValid(t, "session/stream_end", fmt.Sprintf(`{"stream_id":"st-1","session_id":%q,"ended":true,"outcome":"remote_end"}`, testSession))

	var got []rpc.Envelope
	for env, err := range sub.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, env)
	}
	if len(got) != 6 {
		t.Fatalf("got %d events, want 6 (none skipped): %+v", len(got), got)
	}
	if d, ok := got[0].Event.(*rpc.TextDelta); !ok || d.Delta != "a" || got[0].ScopeID != "mob:m/w-1" || len(got[0].ScopePath) != 2 || got[0].Sequence != 1 {
		t.Errorf("scoped event = %+v", got[0])
	}
	for i := 1; i <= 3; i++ {
		u, ok := got[i].Event.(*rpc.UnknownEvent)
		if !ok || u.Type != rpc.InvalidEnvelopeType || !errors.Is(u.Err, rpc.ErrInvalidResponse) || len(u.Raw) == 0 {
			t.Errorf("event %d = %+v, want an invalid_envelope event", i, got[i].Event)
		}
	}
	if got[1].Sequence != 2 || got[2].Sequence != 3 {
		t.Errorf("sequences of invalid events = %d, %d", got[1].Sequence, got[2].Sequence)
	}
	if d, ok := got[4].Event.(*rpc.TextDelta); !ok || d.Delta != "bare" || got[4].ScopeID != "x" || got[4].EventID != "" {
		t.Errorf("bare scoped event = %+v", got[4])
	}
	if d, ok := got[5].Event.(*rpc.TextDelta); !ok || d.Delta != "b" || got[5].ScopeID != "" || got[5].Sequence != 6 {
		t.Errorf("event after the bad ones = %+v", got[5])
	}
	if sub.Outcome() == nil || sub.Outcome().Outcome != "remote_end" {
		t.Errorf("outcome = %+v", sub.Outcome())
	}
}

func TestMobSubscriptionScopeAndInvalidEvents(t *testing.T) {
	p, c := newPeer(t, mobInit, rpc.Options{})
	ctx := context.Background()
	mob := c.Mob("triage")
	var sub *rpc.Subscription[rpc.AttributedEvent]
	done := call(func() (err error) { sub, err = mob.SubscribeEvents(ctx); return err })
	id, _ := p.expectParams(t, "mob/stream_open")
	p.respondValid(t, "mob/stream_open", id, `{"stream_id":"ms-1"}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	attributed := func(identity, env string) string {
		return `{"source":{"identity":"` + identity + `","generation":2},"role":"worker","envelope":` + env + `,"source_fence_token":null}`
	}
	p.notifyValid(t, "mob/stream_event", `{"stream_id":"ms-1","sequence":7,"scope_id":"mob:triage/w-1","scope_path":`+frame+`,"event":`+attributed("w-1", envA)+`}`)
	p.send(`{"jsonrpc":"2.0","method":"mob/stream_event","params":{"stream_id":"ms-1","sequence":8,"event":` + attributed("", envB) + `}}`)
	p.send(`{"jsonrpc":"2.0","method":"mob/stream_event","params":{"stream_id":"ms-1","sequence":9,"event":` + attributed("w-2", `{"payload":{}}`) + `}}`)
	p.notifyValid(t, "mob/stream_event", `{"stream_id":"ms-1","sequence":10,"event":`+attributed("w-1", envB)+`}`)
	p.notifyValid(t, "mob/stream_end", `{"stream_id":"ms-1","ended":true,"outcome":"remote_end"}`)

	var got []rpc.AttributedEvent
	for ev, err := range sub.All() {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if len(got) != 4 {
		t.Fatalf("got %d events, want 4: %+v", len(got), got)
	}
	first := got[0]
	if first.Identity != "w-1" || first.Generation != 2 || first.Sequence != 7 || first.Envelope.Sequence != 7 ||
		first.Envelope.ScopeID != "mob:triage/w-1" || len(first.Envelope.ScopePath) != 2 {
		t.Errorf("scoped attributed event = %+v", first)
	}
	for i, want := range []string{"", "w-2"} {
		ev := got[i+1]
		u, ok := ev.Envelope.Event.(*rpc.UnknownEvent)
		if !ok || u.Type != rpc.InvalidEnvelopeType || u.Err == nil || ev.Identity != want || ev.Sequence != uint64(8+i) {
			t.Errorf("bad event %d = %+v (%+v)", i, ev, ev.Envelope.Event)
		}
	}
	if d, ok := got[3].Envelope.Event.(*rpc.TextDelta); !ok || d.Delta != "b" {
		t.Errorf("last event = %+v", got[3])
	}
}

// A turn's stream takes the scoped wrapper with a bare payload too, and
// its terminal event ends the turn's wait for late events.
func TestTurnStreamScopedBarePayload(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{LateEventGrace: time.Minute})
	st := c.Session(testSession).Stream(context.Background(), rpc.Text("hi"), rpc.TurnOptions{})
	id := p.expect("turn/start")
	scoped := func(payload string) string {
		return `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"` + testSession +
			`","event":{"scope_id":"s","scope_path":[],"event":` + payload + `}}}`
	}
	p.send(scoped(`{"type":"text_delta","delta":"x"}`))
	p.respond(id, runResult(testSession, "x"))
	p.send(scoped(`{"type":"run_completed","session_id":"` + testSession + `","result":"x","usage":{"input_tokens":1,"output_tokens":1}}`))
	start := time.Now()
	var types []string
	for ev, err := range st.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.EventType())
	}
	if strings.Join(types, ",") != "text_delta,run_completed" {
		t.Fatalf("events = %v", types)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("the scoped run_completed did not end the stream")
	}
}

// ---- 3. history with structured content ----

func TestHistoryToleratesAllContentBlocks(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	var h *rpc.History
	done := call(func() (err error) { h, err = c.ReadSessionHistory(context.Background(), testSession, 0, 0); return err })
	id, _ := p.expectParams(t, "session/history")
	p.respondValid(t, "session/history", id, `{"session_id":"`+testSession+`","message_count":5,"offset":0,"has_more":false,"messages":[
		{"role":"system","content":"be brief","created_at":"2025-01-01T00:00:00Z"},
		{"role":"user","content":[{"type":"text","text":"look: "},{"type":"structured","data":{"rows":[1,2]}},{"type":"unknown"}],"created_at":"2025-01-01T00:00:01Z"},
		{"role":"user","content":[{"type":"text","text":"and "},{"type":"image","media_type":"image/png","source":"blob","blob_id":"b1"}],"created_at":"2025-01-01T00:00:02Z"},
		{"role":"user","content":[{"type":"structured","data":"just a string"}],"created_at":"2025-01-01T00:00:03Z"},
		{"role":"block_assistant","blocks":[{"block_type":"text","data":{"text":"ok"}}],"stop_reason":"end_turn","created_at":"2025-01-01T00:00:04Z"}]}`)
	if err := recv(t, done); err != nil {
		t.Fatalf("history with structured blocks failed: %v", err)
	}
	m := h.Messages
	if len(m) != 5 {
		t.Fatalf("messages = %d", len(m))
	}
	if m[0].Content == nil || m[0].Content.String() != "be brief" || m[0].ContentBlocks != nil {
		t.Errorf("system row = %+v", m[0])
	}
	if m[1].Content != nil || len(m[1].ContentBlocks) != 3 || string(m[1].ContentBlocks[1].Structured) != `{"rows":[1,2]}` ||
		m[1].ContentBlocks.Text() != "look: " || m[1].ContentBlocks[2].Type != "unknown" {
		t.Errorf("structured user row = %+v", m[1])
	}
	if m[2].Content == nil || len(m[2].Content.BlockList()) != 2 || m[2].Content.BlockList()[1] != rpc.ImageBlobBlock("image/png", "b1") {
		t.Errorf("text and image row = %+v", m[2])
	}
	if m[3].Content != nil || string(m[3].ContentBlocks[0].Structured) != `"just a string"` {
		t.Errorf("structured string row = %+v", m[3])
	}
	if m[4].AssistantText() != "ok" || m[4].StopReason != "end_turn" || len(m[4].Raw) == 0 {
		t.Errorf("assistant row = %+v", m[4])
	}
}

// ---- 5. errors ----

func TestRemoteErrorSentinelsAndDetails(t *testing.T) {
	tests := []struct {
		name     string
		code     int
		data     string
		sentinel error
		category string
	}{
		{"capability unavailable by number", -32020, "", rpc.ErrCapabilityUnavailable, ""},
		{"capability unavailable typed", -32020, `{"code":"CAPABILITY_UNAVAILABLE","category":"capability","message":"no skills","capability_hint":{"capability_id":"skills","message":"enable skills"}}`, rpc.ErrCapabilityUnavailable, "capability"},
		{"parse error", -32700, "", rpc.ErrParseError, ""},
		{"invalid request", -32600, "", rpc.ErrInvalidRequest, ""},
		{"schedule not found", -32023, "", rpc.ErrScheduleNotFound, ""},
		{"rotation incomplete", -32024, `{"code":"SUPERVISOR_ROTATION_INCOMPLETE","category":"agent","message":"rotating"}`, rpc.ErrSupervisorRotationIncomplete, "agent"},
		{"ad-hoc category is not a WireError's", -32013, `{"category":7}`, rpc.ErrAgentError, ""},
	}
	p, c := newPeer(t, "", rpc.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := call(func() error { _, err := c.Session(testSession).Interrupt(context.Background()); return err })
			p.fail(p.expect("turn/interrupt"), tt.code, "boom", tt.data)
			err := recv(t, done)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			var re *rpc.Error
			if !errors.As(err, &re) || re.Category != tt.category {
				t.Fatalf("error = %+v, want category %q", re, tt.category)
			}
			if (tt.code == -32020) != errors.Is(err, rpc.ErrCapabilityUnavailable) {
				t.Fatalf("ErrCapabilityUnavailable matched %v wrongly", err)
			}
		})
	}

	u := func(n uint64) *uint64 { return &n }
	details := []struct {
		name    string
		details string
		into    any
		want    any
	}{
		{"host unavailable", `{"host":"h-1","timeout_ms":5000}`, &rpc.HostUnavailable{}, &rpc.HostUnavailable{Host: "h-1", TimeoutMS: u(5000)}},
		{"host unavailable empty", `{}`, &rpc.HostUnavailable{}, &rpc.HostUnavailable{}},
		{"stale cursor", `{"watermark":42,"requested":7,"generation":3}`, &rpc.StaleCursor{}, &rpc.StaleCursor{Watermark: 42, Requested: u(7), Generation: u(3)}},
		{"stale cursor minimal", `{"watermark":0}`, &rpc.StaleCursor{}, &rpc.StaleCursor{}},
		{"stale fence", `{"expected":5,"actual":4,"runtime_id":"rt-1"}`, &rpc.StaleFence{}, &rpc.StaleFence{Expected: u(5), Actual: u(4), RuntimeID: "rt-1"}},
	}
	for _, tt := range details {
		re := &rpc.Error{Details: json.RawMessage(tt.details)}
		if err := re.DecodeDetails(tt.into); err != nil || fmt.Sprintf("%+v", deref(tt.into)) != fmt.Sprintf("%+v", deref(tt.want)) {
			t.Errorf("%s: DecodeDetails = %+v, %v; want %+v", tt.name, deref(tt.into), err, deref(tt.want))
		}
	}
}

// deref renders optional counters by value for comparison.
func deref(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ---- 6. flow status execution binding ----

func TestFlowStatusKeepsExecutionBinding(t *testing.T) {
	p, c := newPeer(t, mobInit, rpc.Options{})
	mob := c.Mob("triage")
	for _, tt := range []struct{ result, want string }{
		{`{"run":{"run_id":"r-1","mob_id":"triage","flow_id":"review","status":"running"},"execution_binding":{"host":"h-1","mode":"placed"}}`, `{"host":"h-1","mode":"placed"}`},
		{`{"run":{"run_id":"r-1","mob_id":"triage","flow_id":"review","status":"completed"}}`, ``},
		{`{"run":{"run_id":"r-1","mob_id":"triage","flow_id":"review","status":"completed"},"execution_binding":null}`, ``},
	} {
		var run *rpc.FlowRun
		done := call(func() (err error) { run, err = mob.FlowStatus(context.Background(), "r-1"); return err })
		id, _ := p.expectParams(t, "mob/flow_status")
		p.respondValid(t, "mob/flow_status", id, tt.result)
		if err := recv(t, done); err != nil || run == nil {
			t.Fatalf("FlowStatus = %+v, %v", run, err)
		}
		if string(run.ExecutionBinding) != tt.want || run.RunID != "r-1" {
			t.Errorf("ExecutionBinding = %s, want %s", run.ExecutionBinding, tt.want)
		}
	}
}

// ---- 7. spawn specs ----

func TestSpawnSpecFieldsFollowContract(t *testing.T) {
	p, c := newPeer(t, mobInit, rpc.Options{})
	mob := c.Mob("triage")
	ctx := context.Background()
	yes := true
	full := rpc.SpawnSpec{
		Profile: "analyst", AgentIdentity: "a-1", Backend: rpc.MobBackendExternal,
		AuthBinding:         &rpc.AuthBindingRef{Realm: "team", Binding: "anthropic-main"},
		ModelOverride:       "claude-sonnet-4-6",
		Placement:           "peer-7",
		AutoWireParent:      &yes,
		Binding:             json.RawMessage(`{"kind":"session"}`),
		InheritedToolFilter: &rpc.ToolFilter{Allow: []string{"search"}},
		LaunchMode:          &rpc.LaunchMode{Mode: "fork", SourceMemberID: "lead"},
		OverrideProfile:     json.RawMessage(`{"model":"claude-opus-4-8"}`),
		ShellEnv:            map[string]string{"CI": "1"},
		ToolAccessPolicy:    &rpc.ToolAccessPolicy{Type: "deny_list"},
	}
	done := call(func() error { _, err := mob.Spawn(ctx, full); return err })
	id, raw := p.expectParams(t, "mob/spawn")
	got := params(t, raw)
	for k, want := range map[string]string{
		"backend":               `"external"`,
		"auth_binding":          `{"realm":"team","binding":"anthropic-main"}`,
		"model_override":        `"claude-sonnet-4-6"`,
		"placement":             `"peer-7"`,
		"auto_wire_parent":      `true`,
		"binding":               `{"kind":"session"}`,
		"inherited_tool_filter": `{"Allow":["search"]}`,
		"launch_mode":           `{"mode":"fork","source_member_id":"lead"}`,
		"override_profile":      `{"model":"claude-opus-4-8"}`,
		"shell_env":             `{"CI":"1"}`,
		"tool_access_policy":    `{"type":"deny_list","value":[]}`,
		"runtime_mode":          `null`,
	} {
		if !sameJSON(got[k], []byte(want)) {
			t.Errorf("%s = %s, want %s", k, got[k], want)
		}
	}
	p.respondValid(t, "mob/spawn", id, `{"mob_id":"triage","agent_identity":"a-1","member_ref":"ref"}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}

	// A minimal spec sends the Python SDK's nine keys, null when unset, and
	// nothing else.
	done = call(func() error {
		_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "analyst", AgentIdentity: "a-2"})
		return err
	})
	id, raw = p.expectParams(t, "mob/spawn")
	if got := params(t, raw); len(got) != 9 || string(got["backend"]) != "null" || got["model_override"] != nil {
		t.Errorf("minimal spawn params = %s", raw)
	}
	p.respondValid(t, "mob/spawn", id, `{"mob_id":"triage","agent_identity":"a-2","member_ref":"ref"}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}

	// spawn_many specs take auth_binding, model_override and placement.
	many := []rpc.SpawnSpec{
		{Profile: "analyst", AgentIdentity: "a-3", Backend: rpc.MobBackendSession, ModelOverride: "m", Placement: "peer-7",
			AuthBinding: &rpc.AuthBindingRef{Realm: "team", Binding: "b", Profile: "p"}},
		{Profile: "analyst", AgentIdentity: "a-4"},
	}
	done = call(func() error { _, err := mob.SpawnMany(ctx, many); return err })
	id, raw = p.expectParams(t, "mob/spawn_many")
	if !strings.Contains(string(raw), `"auth_binding":{"realm":"team","binding":"b","profile":"p"}`) || !strings.Contains(string(raw), `"backend":"session"`) ||
		strings.Contains(string(raw), `"shell_env"`) {
		t.Errorf("spawn_many params = %s", raw)
	}
	p.respondValid(t, "mob/spawn_many", id, `{"results":[{"status":"spawned","result":{"agent_identity":"a-3","member_ref":"r"}},{"status":"failed","result":{"cause":"profile_not_found","message":"no"}}]}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}

	invalid := map[string]func() error{
		"spawn_many with a spawn-only field": func() error {
			_, err := mob.SpawnMany(ctx, []rpc.SpawnSpec{{Profile: "a", AgentIdentity: "x", ShellEnv: map[string]string{"A": "b"}}})
			return err
		},
		"unknown backend": func() error {
			_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "a", AgentIdentity: "x", Backend: "docker"})
			return err
		},
		"resume without session": func() error {
			_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "a", AgentIdentity: "x", LaunchMode: &rpc.LaunchMode{Mode: "resume"}})
			return err
		},
		"filter with two modes": func() error {
			_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "a", AgentIdentity: "x", InheritedToolFilter: &rpc.ToolFilter{All: true, Deny: []string{"x"}}})
			return err
		},
		"policy with a value it does not take": func() error {
			_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "a", AgentIdentity: "x", ToolAccessPolicy: &rpc.ToolAccessPolicy{Type: "read_only", Value: []string{"x"}}})
			return err
		},
		"auth binding without realm": func() error {
			_, err := mob.Spawn(ctx, rpc.SpawnSpec{Profile: "a", AgentIdentity: "x", AuthBinding: &rpc.AuthBindingRef{Binding: "b"}})
			return err
		},
	}
	for name, f := range invalid {
		if err := f(); !errors.Is(err, rpc.ErrInvalidArgs) {
			t.Errorf("%s: %v, want ErrInvalidArgs", name, err)
		}
	}
}

func TestToolFilterJSON(t *testing.T) {
	for _, tt := range []struct {
		f    rpc.ToolFilter
		wire string
	}{
		{rpc.ToolFilter{All: true}, `"All"`},
		{rpc.ToolFilter{Allow: []string{}}, `{"Allow":[]}`},
		{rpc.ToolFilter{Deny: []string{"shell"}}, `{"Deny":["shell"]}`},
	} {
		b, err := json.Marshal(tt.f)
		if err != nil || string(b) != tt.wire {
			t.Errorf("Marshal(%+v) = %s, %v", tt.f, b, err)
		}
		var back rpc.ToolFilter
		if err := json.Unmarshal(b, &back); err != nil || deref(back) != deref(tt.f) {
			t.Errorf("Unmarshal(%s) = %+v, %v", b, back, err)
		}
	}
	var f rpc.ToolFilter
	if err := json.Unmarshal([]byte(`{"Allow":[],"Deny":[]}`), &f); err == nil {
		t.Error("a filter with both Allow and Deny was accepted")
	}
}

func TestSpawnThroughSimWithBackend(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	m, err := c.CreateMob(ctx, json.RawMessage(`{"id":"crew","profiles":{"w":{"model":"m"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Spawn(ctx, rpc.SpawnSpec{Profile: "w", AgentIdentity: "w-1", Backend: rpc.MobBackendSession, ModelOverride: "m2"}); err != nil {
		t.Fatal(err)
	}
	out, err := m.SpawnMany(ctx, []rpc.SpawnSpec{{Profile: "w", AgentIdentity: "w-2", Placement: ""}, {Profile: "w", AgentIdentity: "w-3", ModelOverride: "m3"}})
	if err != nil || len(out) != 2 || out[0].Spawned == nil || out[1].Spawned == nil {
		t.Fatalf("SpawnMany = %+v, %v", out, err)
	}
}

// ---- 8. video blocks ----

func TestVideoBlockAlwaysCarriesDuration(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	// The simulator, like the runtime, requires duration_ms on every video.
	if _, err := c.CreateSession(ctx, rpc.Blocks(rpc.TextBlock("what is this?"), rpc.VideoBlock("video/mp4", 0, "AAAA")), rpc.SessionOptions{}); err != nil {
		t.Fatalf("a zero-length video was refused: %v", err)
	}
	for _, tt := range []struct {
		b    rpc.Block
		wire string
	}{
		{rpc.VideoBlock("video/mp4", 0, "AAAA"), `{"type":"video","media_type":"video/mp4","duration_ms":0,"source":"inline","data":"AAAA"}`},
		{rpc.VideoURIBlock("video/mp4", 9, "https://x/v.mp4"), `{"type":"video","media_type":"video/mp4","duration_ms":9,"source":"uri","uri":"https://x/v.mp4"}`},
		{rpc.Block{Type: "image", MediaType: "image/png", Data: "AA", Text: "ignored"}, `{"type":"image","media_type":"image/png","source":"inline","data":"AA"}`},
		{rpc.TextBlock(""), `{"type":"text","text":""}`},
	} {
		b, err := json.Marshal(tt.b)
		if err != nil || string(b) != tt.wire {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.b, b, err, tt.wire)
		}
	}
	for name, b := range map[string]rpc.Block{
		"video blob": {Type: "video", MediaType: "video/mp4", Source: "blob", BlobID: "b"},
		"image uri":  {Type: "image", MediaType: "image/png", Source: "uri", URI: "https://x"},
	} {
		if _, err := c.CreateSession(ctx, rpc.Blocks(b), rpc.SessionOptions{}); !errors.Is(err, rpc.ErrInvalidArgs) {
			t.Errorf("%s: %v, want ErrInvalidArgs (the contract has no such source)", name, err)
		}
	}
}

// ---- 9. legacy skill references ----

func TestParseSkillKey(t *testing.T) {
	for _, tt := range []struct {
		ref  string
		want rpc.SkillKey
		ok   bool
	}{
		{"abc123/code-review", rpc.SkillKey{SourceUUID: "abc123", SkillName: "code-review"}, true},
		{"/0192a6c4-6b5e-7c3f-9a1b-2c3d4e5f6a7b/review", rpc.SkillKey{SourceUUID: "0192a6c4-6b5e-7c3f-9a1b-2c3d4e5f6a7b", SkillName: "review"}, true},
		{"src/team/review/strict", rpc.SkillKey{SourceUUID: "src", SkillName: "team/review/strict"}, true},
		{"review", rpc.SkillKey{}, false},
		{"", rpc.SkillKey{}, false},
		{"/", rpc.SkillKey{}, false},
		{"//review", rpc.SkillKey{}, false},
		{"src/", rpc.SkillKey{}, false},
	} {
		got, err := rpc.ParseSkillKey(tt.ref)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseSkillKey(%q) = %+v, %v", tt.ref, got, err)
		}
		if err != nil {
			var ke *rpc.SkillKeyError
			if !errors.As(err, &ke) || ke.Ref != tt.ref || !errors.Is(err, rpc.ErrInvalidArgs) {
				t.Errorf("ParseSkillKey(%q) error %v is not a *SkillKeyError wrapping ErrInvalidArgs", tt.ref, err)
			}
		}
		if err == nil && got.String() != strings.TrimPrefix(tt.ref, "/") {
			t.Errorf("round trip of %q = %q", tt.ref, got.String())
		}
	}
}

// ---- 11. live flags ----

func TestLiveOptionsReachTheRuntime(t *testing.T) {
	// A legacy `rkat` binary cannot take them: they must have been passed.
	legacy := filepath.Join(t.TempDir(), "rkat")
	if err := os.WriteFile(legacy, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]rpc.Options{"ws": {LiveWS: true}, "webrtc": {LiveWebRTC: true}} {
		opts.BinaryPath = legacy
		_, err := rpc.Connect(testCtx(t), opts)
		if !errors.Is(err, rpc.ErrLegacyBinaryUnsupported) || !strings.Contains(err.Error(), "live_"+name) {
			t.Errorf("%s with a legacy binary = %v, want ErrLegacyBinaryUnsupported naming live_%s", name, err, name)
		}
	}
	c := connectSim(t, rpc.Options{LiveWS: true, LiveWebRTC: true})
	if runtime.GOOS != "linux" {
		return
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c.PID()))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")[1:], " ")
	if args != "--live-ws 127.0.0.1:0 --live-webrtc" {
		t.Fatalf("runtime argv = %q", args)
	}
}

// ---- 12. skill diagnostics ----

func TestRunResultSkillDiagnostics(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	var res *rpc.RunResult
	done := call(func() (err error) {
		res, err = c.Session(testSession).Turn(context.Background(), rpc.Text("hi"), rpc.TurnOptions{})
		return err
	})
	id, _ := p.expectParams(t, "turn/start")
	p.respondValid(t, "turn/start", id, `{"session_id":"`+testSession+`","text":"ok","turns":1,"tool_calls":0,"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2},
		"skill_diagnostics":{"collection_fault":{"reason_type":"load","message":"disk"},
		"quarantined":[{"identity":{"source_uuid":"s-1","raw_id":"Not A Slug"},"location":"skills/x","error_code":"invalid_name","error_class":"validation","message":"bad name","first_seen_unix_secs":10,"last_seen_unix_secs":20}],
		"source_health":{"state":"degraded","invalid_ratio":0.5,"invalid_count":1,"total_count":2,"failure_streak":0,"handshake_failed":false}}}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	d := res.SkillHealth
	if d == nil || d.CollectionFault == nil || d.CollectionFault.ReasonType != "load" || d.CollectionFault.Message != "disk" ||
		len(d.Quarantined) != 1 || d.Quarantined[0].Identity.RawID != "Not A Slug" || d.Quarantined[0].LastSeenUnixSecs != 20 ||
		d.SourceHealth.State != "degraded" || d.SourceHealth.InvalidRatio != 0.5 || d.SourceHealth.TotalCount != 2 ||
		len(d.Raw) == 0 || string(d.Raw) != string(res.SkillDiagnostics) {
		t.Fatalf("SkillHealth = %+v", d)
	}

	done = call(func() (err error) {
		res, err = c.Session(testSession).Turn(context.Background(), rpc.Text("hi"), rpc.TurnOptions{})
		return err
	})
	id, _ = p.expectParams(t, "turn/start")
	p.respondValid(t, "turn/start", id, `{"session_id":"`+testSession+`","text":"ok","turns":1,"tool_calls":0,"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2},"skill_diagnostics":null}`)
	if err := recv(t, done); err != nil || res.SkillHealth != nil || res.SkillDiagnostics != nil {
		t.Fatalf("null diagnostics = %+v, %v", res, err)
	}
}

// ---- 13 and 14. turn and session options ----

func TestSystemPromptDisableAndTurnOptions(t *testing.T) {
	p, c := newPeer(t, "", rpc.Options{})
	ctx := context.Background()
	done := call(func() error {
		_, err := c.CreateDeferredSession(ctx, rpc.Text("hi"), rpc.SessionOptions{DisableSystemPrompt: true})
		return err
	})
	id, raw := p.expectParams(t, "session/create")
	if got := params(t, raw); string(got["system_prompt"]) != `{"action":"disable"}` {
		t.Errorf("session/create system_prompt = %s", got["system_prompt"])
	}
	p.respondValid(t, "session/create", id, `{"session_id":"`+testSession+`","session_ref":null}`)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}

	n3, n4 := uint32(3), uint32(4)
	s := c.Session(testSession)
	for _, tt := range []struct {
		name string
		opts rpc.TurnOptions
		want map[string]string
	}{
		{"disable", rpc.TurnOptions{DisableSystemPrompt: true}, map[string]string{"system_prompt": `{"action":"disable"}`}},
		{"prompt", rpc.TurnOptions{SystemPrompt: "terse"}, map[string]string{"system_prompt": `"terse"`}},
		{"retries", rpc.TurnOptions{StructuredOutputRetries: &n3}, map[string]string{"structured_output_retries": "3"}},
		{"deprecated retries", rpc.TurnOptions{StructuredOutputRetry: &n4}, map[string]string{"structured_output_retries": "4"}},
		{"both retries agreeing", rpc.TurnOptions{StructuredOutputRetries: &n3, StructuredOutputRetry: &n3}, map[string]string{"structured_output_retries": "3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := call(func() error { _, err := s.Turn(ctx, rpc.Text("x"), tt.opts); return err })
			id, raw := p.expectParams(t, "turn/start")
			got := params(t, raw)
			for k, want := range tt.want {
				if string(got[k]) != want {
					t.Errorf("%s = %s, want %s", k, got[k], want)
				}
			}
			p.respondValid(t, "turn/start", id, runResult(testSession, "ok"))
			if err := recv(t, done); err != nil {
				t.Fatal(err)
			}
		})
	}

	bad := map[string]func() error{
		"session prompt and disable": func() error {
			_, err := c.CreateSession(ctx, rpc.Text("x"), rpc.SessionOptions{SystemPrompt: "a", DisableSystemPrompt: true})
			return err
		},
		"turn prompt and disable": func() error {
			_, err := s.Turn(ctx, rpc.Text("x"), rpc.TurnOptions{SystemPrompt: "a", DisableSystemPrompt: true})
			return err
		},
		"retries disagreeing": func() error {
			_, err := s.Turn(ctx, rpc.Text("x"), rpc.TurnOptions{StructuredOutputRetries: &n3, StructuredOutputRetry: &n4})
			return err
		},
		"invalid turn injected context": func() error {
			_, err := s.Turn(ctx, rpc.Text("x"), rpc.TurnOptions{InjectedContext: []rpc.Content{rpc.Blocks(rpc.Block{Type: "video", MediaType: "video/mp4"})}})
			return err
		},
		"invalid session injected context": func() error {
			_, err := c.CreateSession(ctx, rpc.Text("x"), rpc.SessionOptions{InjectedContext: []rpc.Content{rpc.Blocks(rpc.Block{Type: "audio"})}})
			return err
		},
	}
	for name, f := range bad {
		if err := f(); !errors.Is(err, rpc.ErrInvalidArgs) {
			t.Errorf("%s: %v, want ErrInvalidArgs", name, err)
		}
	}
	done = call(func() error { _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); return err })
	p.respond(p.expect("session/list"), `{"sessions":[]}`) // nothing else was sent
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidToolsFailConnectBeforeStarting(t *testing.T) {
	bad := []rpc.Tool{{Name: "t", Handler: nil}}
	// Connect does not spawn: the binary does not even exist.
	_, err := rpc.Connect(testCtx(t), rpc.Options{BinaryPath: filepath.Join(t.TempDir(), "nope", "rkat-rpc"), Tools: bad})
	if !errors.Is(err, rpc.ErrInvalidArgs) {
		t.Fatalf("Connect with a tool without handler = %v, want ErrInvalidArgs", err)
	}
	// ConnectStreams sends nothing and closes its output.
	toPeer, fromClient := io.Pipe()
	toClient, fromPeer := io.Pipe()
	defer fromPeer.Close()
	read := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(toPeer); read <- b }()
	schema := []rpc.Tool{{Name: "t", Handler: func(context.Context, json.RawMessage) (rpc.ToolResult, error) { return rpc.TextResult(""), nil },
		InputSchema: json.RawMessage(`{not json`)}}
	if _, err := rpc.ConnectStreams(testCtx(t), toClient, fromClient, rpc.Options{Tools: schema}); !errors.Is(err, rpc.ErrInvalidArgs) {
		t.Fatalf("ConnectStreams with a bad schema = %v, want ErrInvalidArgs", err)
	}
	select {
	case b := <-read:
		if len(b) != 0 {
			t.Fatalf("ConnectStreams wrote %q before failing", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ConnectStreams left its output open")
	}
}

func TestListMobsRejectsUnreadableStatus(t *testing.T) {
	p, c := newPeer(t, mobInit, rpc.Options{})
	for _, tt := range []struct {
		result string
		ok     bool
	}{
		{`{"mobs":[{"mob_id":"a","status":"Running"},{"mob_id":"b","status":{"Stopped":{}}}]}`, true},
		{`{"mobs":[{"mob_id":"a"}]}`, false},
		{`{"mobs":[{"mob_id":"a","status":""}]}`, false},
		{`{"mobs":[{"mob_id":"a","status":7}]}`, false},
		{`{"mobs":[{"status":"Running"}]}`, false},
	} {
		var got []rpc.MobSummary
		done := call(func() (err error) { got, err = c.ListMobs(context.Background()); return err })
		p.respond(p.expect("mob/list"), tt.result)
		err := recv(t, done)
		if tt.ok {
			if err != nil || len(got) != 2 || got[0].Status != "Running" || got[1].Status != "Stopped" {
				t.Errorf("ListMobs(%s) = %+v, %v", tt.result, got, err)
			}
		} else if !errors.Is(err, rpc.ErrInvalidResponse) {
			t.Errorf("ListMobs(%s) = %+v, %v; want ErrInvalidResponse", tt.result, got, err)
		}
	}
}

func TestUsageAddCacheCounters(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	for _, tt := range []struct {
		a, b, want rpc.Usage
	}{
		{rpc.Usage{InputTokens: 1, OutputTokens: 2}, rpc.Usage{InputTokens: 3, OutputTokens: 4}, rpc.Usage{InputTokens: 4, OutputTokens: 6, TotalTokens: 10}},
		{rpc.Usage{CacheReadTokens: u(5)}, rpc.Usage{CacheReadTokens: u(7), CacheCreationTokens: u(2)},
			rpc.Usage{CacheReadTokens: u(12), CacheCreationTokens: u(2)}},
		{rpc.Usage{CacheCreationTokens: u(1)}, rpc.Usage{}, rpc.Usage{CacheCreationTokens: u(1)}},
	} {
		if got := tt.a.Add(tt.b); deref(got) != deref(tt.want) {
			t.Errorf("%s + %s = %s, want %s", deref(tt.a), deref(tt.b), deref(got), deref(tt.want))
		}
	}
}

func TestEventContentBlockKeepsVideoDuration(t *testing.T) {
	var b rpc.ContentBlock
	in := `{"type":"video","media_type":"video/mp4","source":"uri","uri":"s3://v","duration_ms":0}`
	if err := json.Unmarshal([]byte(in), &b); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(b)
	if err != nil || !sameJSON(out, []byte(in)) {
		t.Fatalf("round trip = %s, %v; want %s", out, err, in)
	}
}
