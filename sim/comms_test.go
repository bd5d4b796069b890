package sim_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/sim"
)

func TestComms(t *testing.T) {
	c := startSim(t, sim.Options{})
	alice := c.create(map[string]any{"prompt": "hi", "comms_name": "alice", "peer_meta": map[string]any{"description": "Alice", "labels": map[string]string{"k": "v"}}})
	bob := c.create(map[string]any{"prompt": "hi", "comms_name": "bob", "keep_alive": true})
	plain := c.create(map[string]any{"prompt": "hi"})

	var peers struct {
		Peers []struct {
			PeerID  string            `json:"peer_id"`
			Name    string            `json:"name"`
			Address map[string]string `json:"address"`
			Meta    struct {
				Description *string           `json:"description"`
				Labels      map[string]string `json:"labels"`
			} `json:"meta"`
		} `json:"peers"`
	}
	c.ok("comms/peers", map[string]any{"session_id": bob.SessionID}, &peers)
	if len(peers.Peers) != 1 || peers.Peers[0].Name != "alice" || peers.Peers[0].PeerID != alice.SessionID ||
		peers.Peers[0].Meta.Labels["k"] != "v" || peers.Peers[0].Address["transport"] != "inproc" {
		t.Fatalf("peers = %+v", peers)
	}
	if e := c.fail("comms/peers", map[string]any{"session_id": plain.SessionID}); e.Code != -32602 {
		t.Fatalf("peers without comms: %+v", e)
	}

	// A stream on alice sees the ingested peer message.
	var open struct {
		StreamID string `json:"stream_id"`
	}
	c.ok("session/stream_open", map[string]any{"session_id": alice.SessionID}, &open)
	var sent map[string]any
	c.ok("comms/send", map[string]any{"session_id": bob.SessionID, "kind": "peer_message", "to": "alice", "body": "hello alice"}, &sent)
	if sent["kind"] != "peer_message_sent" || sent["delivery"] != "acked" || sent["envelope_id"] == "" {
		t.Fatalf("send = %v", sent)
	}
	c.waitFor("peer_content_ingested", func(m *wireMsg) bool {
		return m.Method == "session/stream_event" && strings.Contains(m.Raw, "peer_content_ingested")
	})
	var h struct {
		Messages []map[string]any `json:"messages"`
	}
	c.ok("session/history", map[string]any{"session_id": alice.SessionID}, &h)
	last := h.Messages[len(h.Messages)-1]
	if last["role"] != "system_notice" || last["kind"] != "comms" || last["body"] != "hello alice" {
		t.Fatalf("delivered row = %v", last)
	}

	// Each kind takes only its own fields, as the contract's variants say:
	// no idempotency key anywhere, allow_self_session on input only.
	for _, extra := range []map[string]any{
		{"session_id": bob.SessionID, "kind": "peer_message", "to": "alice", "body": "hi", "idempotency_key": "k1"},
		{"session_id": bob.SessionID, "kind": "peer_message", "to": "alice", "body": "hi", "allow_self_session": true},
		{"session_id": bob.SessionID, "kind": "peer_lifecycle", "to": "alice", "lifecycle_kind": "mob.peer_added", "params": map[string]any{}, "body": "x"},
	} {
		if e := c.fail("comms/send", extra); e.Code != -32602 || !strings.Contains(e.Message, "unknown field") {
			t.Fatalf("comms/send with a field its kind does not take %v: %+v", extra, e)
		}
	}
	var st struct {
		State *struct {
			InputID         string  `json:"input_id"`
			CurrentState    string  `json:"current_state"`
			TerminalOutcome *string `json:"terminal_outcome"`
		} `json:"state"`
	}
	c.ok("session/input_status", map[string]any{"session_id": bob.SessionID, "selector": map[string]string{"by": "input_id", "value": sent["envelope_id"].(string)}}, &st)
	if st.State == nil || st.State.InputID != sent["envelope_id"] || st.State.CurrentState != "consumed" || *st.State.TerminalOutcome != "completed" {
		t.Fatalf("input_status = %+v", st.State)
	}
	c.ok("session/input_status", map[string]any{"session_id": bob.SessionID, "selector": map[string]string{"by": "input_id", "value": "missing"}}, &st)
	if st.State != nil {
		t.Fatalf("unknown input = %+v", st.State)
	}

	// A peer message to a keep-alive session wakes it up with a turn.
	before := len(c.events(bob.SessionID))
	c.ok("comms/send", map[string]any{"session_id": alice.SessionID, "kind": "peer_message", "to": bob.SessionID, "body": "ping"}, nil)
	c.waitFor("bob's wake-up turn", func(m *wireMsg) bool {
		return m.Method == "session/event" && strings.Contains(m.Raw, bob.SessionID) && strings.Contains(m.Raw, `"run_completed"`) && strings.Contains(m.Raw, `"pong"`)
	})
	if len(c.events(bob.SessionID)) <= before {
		t.Fatal("no wake-up events")
	}

	// Input: a background turn with an interaction id.
	var in map[string]any
	c.ok("comms/send", map[string]any{"session_id": plain.SessionID, "kind": "input", "body": "What is the capital of Italy?", "stream": "reserve_interaction"}, &in)
	if in["kind"] != "input_accepted" || in["stream_reserved"] != true {
		t.Fatalf("input = %v", in)
	}
	c.waitFor("input turn", func(m *wireMsg) bool {
		return strings.Contains(m.Raw, plain.SessionID) && strings.Contains(m.Raw, "The capital of Italy is Rome.") && strings.Contains(m.Raw, "run_completed")
	})
	c.waitFor("input consumed", func(*wireMsg) bool { return true })
	for i := 0; ; i++ {
		c.ok("session/input_status", map[string]any{"session_id": plain.SessionID, "selector": map[string]string{"by": "input_id", "value": in["interaction_id"].(string)}}, &st)
		if st.State != nil && st.State.CurrentState == "consumed" {
			break
		}
		if i > 200 {
			t.Fatalf("input never consumed: %+v", st.State)
		}
	}

	// Other kinds and errors.
	okCases := []map[string]any{
		{"session_id": alice.SessionID, "kind": "peer_lifecycle", "to": "bob", "lifecycle_kind": "mob.peer_added", "params": map[string]any{"peer": "carol"}},
		{"session_id": alice.SessionID, "kind": "peer_request", "to": "bob", "intent": "checksum_token", "params": map[string]any{"token": "x"}},
		{"session_id": alice.SessionID, "kind": "peer_response", "to": "bob", "in_reply_to": "00000000-0000-4000-8000-000000000001", "status": "completed", "result": map[string]any{}},
	}
	wantKinds := []string{"peer_lifecycle_sent", "peer_request_sent", "peer_response_sent"}
	for i, p := range okCases {
		var r map[string]any
		c.ok("comms/send", p, &r)
		if r["kind"] != wantKinds[i] {
			t.Errorf("kind %v", r)
		}
	}
	errCases := []map[string]any{
		{"session_id": alice.SessionID, "kind": "telepathy"},
		{"session_id": alice.SessionID, "kind": "peer_message", "to": "nobody", "body": "x"},
		{"session_id": alice.SessionID, "kind": "peer_message", "to": "alice", "body": "x"},
		{"session_id": alice.SessionID, "kind": "peer_response", "to": "bob", "in_reply_to": "r", "status": "maybe"},
		{"session_id": alice.SessionID, "kind": "input"},
	}
	for _, p := range errCases {
		if e := c.fail("comms/send", p); e.Code != -32602 {
			t.Errorf("%v: %+v", p, e)
		}
	}
	if e := c.fail("comms/send", map[string]any{"session_id": "nope", "kind": "input", "body": "x"}); e.Code != -32001 {
		t.Errorf("unknown session: %+v", e)
	}
}

func TestConfig(t *testing.T) {
	c := startSim(t, sim.Options{InstanceID: "inst-1"})
	type env struct {
		Config        map[string]any `json:"config"`
		Generation    int            `json:"generation"`
		RealmID       string         `json:"realm_id"`
		InstanceID    *string        `json:"instance_id"`
		Backend       string         `json:"backend"`
		ResolvedPaths any            `json:"resolved_paths"`
	}
	var g env
	c.ok("config/get", nil, &g)
	if g.Generation != 0 || g.Backend != "memory" || *g.InstanceID != "inst-1" || !strings.HasPrefix(g.RealmID, "isolated-") || g.ResolvedPaths != nil {
		t.Fatalf("get = %+v", g)
	}
	var s1 env
	c.ok("config/set", map[string]any{"config": map[string]any{"agent": map[string]any{"model": "gpt-5"}, "x": 1}, "expected_generation": 0}, &s1)
	if s1.Generation != 1 || s1.Config["x"].(float64) != 1 {
		t.Fatalf("set = %+v", s1)
	}
	e := c.fail("config/set", map[string]any{"config": map[string]any{}, "expected_generation": 0})
	if e.Code != -32602 || e.Message != "Generation conflict: expected 0, current 1" || e.Data != nil {
		t.Fatalf("conflict = %+v", e)
	}
	var p env
	c.ok("config/patch", map[string]any{"patch": map[string]any{"x": nil, "agent": map[string]any{"max_tokens": 5}}, "expected_generation": 1}, &p)
	agent := p.Config["agent"].(map[string]any)
	if p.Generation != 2 || p.Config["x"] != nil || agent["model"] != "gpt-5" || agent["max_tokens"].(float64) != 5 {
		t.Fatalf("patch = %+v", p)
	}
	// The config's model becomes the default for new sessions.
	r := c.create(map[string]any{"prompt": "hi"})
	var read map[string]any
	c.ok("session/read", map[string]any{"session_id": r.SessionID}, &read)
	if read["model"] != "gpt-5" || read["provider"] != "openai" {
		t.Fatalf("session model = %v", read)
	}
	var bare env
	c.ok("config/set", map[string]any{"agent": map[string]any{"model": "claude-sonnet-4-6"}}, &bare)
	if bare.Generation != 3 || bare.Config["agent"] == nil {
		t.Fatalf("bare set = %+v", bare)
	}
	for _, bad := range []map[string]any{{"config": "nope"}, {"patch": 3}, {}} {
		method := "config/set"
		if _, ok := bad["patch"]; ok || len(bad) == 0 {
			method = "config/patch"
		}
		if e := c.fail(method, bad); e.Code != -32602 {
			t.Errorf("%s %v: %+v", method, bad, e)
		}
	}
}

func TestSessionStreams(t *testing.T) {
	c := startSim(t, sim.Options{})
	r := c.create(map[string]any{"prompt": "hi"})
	var open struct {
		StreamID string `json:"stream_id"`
	}
	c.ok("session/stream_open", map[string]any{"session_id": r.SessionID}, &open)
	if !uuidRE.MatchString(open.StreamID) {
		t.Fatalf("open = %+v", open)
	}
	c.turn(r.SessionID, "ping")
	var seqs []int
	for _, m := range c.messages() {
		if m.Method != "session/stream_event" {
			continue
		}
		var p struct {
			StreamID  string   `json:"stream_id"`
			Sequence  int      `json:"sequence"`
			SessionID string   `json:"session_id"`
			Event     envelope `json:"event"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if p.StreamID != open.StreamID || p.SessionID != r.SessionID || p.Event.Type() == "" {
			t.Fatalf("stream event %s", m.Raw)
		}
		seqs = append(seqs, p.Sequence)
	}
	if len(seqs) != 6 || seqs[0] != 1 || seqs[5] != 6 {
		t.Fatalf("stream sequences = %v", seqs)
	}
	var closed map[string]any
	id := c.request("session/stream_close", map[string]any{"stream_id": open.StreamID})
	resp := c.response(id)
	_ = json.Unmarshal(resp.Result, &closed)
	if closed["closed"] != true || closed["already_closed"] != false || closed["stream_id"] != open.StreamID {
		t.Fatalf("close = %v", closed)
	}
	end := c.waitFor("stream_end", func(m *wireMsg) bool { return m.Method == "session/stream_end" })
	if !strings.Contains(end.Raw, `"outcome":"explicit_close"`) || !strings.Contains(end.Raw, `"ended":true`) {
		t.Fatalf("end = %s", end.Raw)
	}
	c.ok("session/stream_close", map[string]any{"stream_id": open.StreamID}, &closed)
	if closed["already_closed"] != true {
		t.Fatalf("second close = %v", closed)
	}
	if e := c.fail("session/stream_close", map[string]any{"stream_id": "nope"}); e.Code != -32602 {
		t.Fatalf("bad id: %+v", e)
	}
	if e := c.fail("session/stream_open", map[string]any{"session_id": "nope"}); e.Code != -32001 {
		t.Fatalf("unknown session: %+v", e)
	}
	// Archiving ends open streams with remote_end.
	c.ok("session/stream_open", map[string]any{"session_id": r.SessionID}, &open)
	c.ok("session/archive", map[string]any{"session_id": r.SessionID}, nil)
	ends := []string{}
	for _, m := range c.messages() {
		if m.Method == "session/stream_end" {
			ends = append(ends, m.Raw)
		}
	}
	if len(ends) != 2 || !strings.Contains(ends[1], `"outcome":"remote_end"`) || !strings.Contains(ends[1], open.StreamID) {
		t.Fatalf("ends = %v", ends)
	}
	if !slices.ContainsFunc(c.messages(), func(m *wireMsg) bool { return m.Method == "session/stream_end" && strings.Contains(m.Raw, r.SessionID) }) {
		t.Fatal("stream_end lacks session id")
	}
}
