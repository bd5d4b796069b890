package sim_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/sim"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCreateTurnEventsAndResult(t *testing.T) {
	c := startSim(t, sim.Options{})
	id := c.request("session/create", map[string]any{"prompt": "What is the capital of France?", "model": "claude-sonnet-4-6", "labels": map[string]string{"team": "a"}})
	resp := c.response(id)
	var r runResult
	if err := json.Unmarshal(resp.Result, &r); err != nil {
		t.Fatal(err)
	}
	if !uuidRE.MatchString(r.SessionID) {
		t.Fatalf("session id %q is not a lowercase uuid", r.SessionID)
	}
	if r.Text != "The capital of France is Paris." || r.Turns != 1 || r.ToolCalls != 0 {
		t.Fatalf("result = %+v", r)
	}
	if r.Usage["total_tokens"] != r.Usage["input_tokens"]+r.Usage["output_tokens"] || r.Usage["output_tokens"] != 6 {
		t.Fatalf("usage = %v", r.Usage)
	}
	evs := c.eventsBefore(r.SessionID, resp)
	want := []string{"run_started", "turn_started", "text_delta", "text_delta", "text_delta", "text_delta", "text_delta", "text_delta", "text_complete", "turn_completed", "run_completed"}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("event order = %v", got)
	}
	if after := c.events(r.SessionID); len(after) != len(evs) {
		t.Fatalf("%d events arrived after the response", len(after)-len(evs))
	}
	var text strings.Builder
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d seq = %d", i, e.Seq)
		}
		if !uuidRE.MatchString(e.EventID) || e.TimestampMS == 0 {
			t.Errorf("bad envelope %+v", e)
		}
		if e.Type() == "text_delta" {
			var d string
			_ = json.Unmarshal(e.field("delta"), &d)
			text.WriteString(d)
		}
	}
	if text.String() != r.Text {
		t.Fatalf("deltas join to %q", text.String())
	}
	var input struct {
		Kind    string `json:"kind"`
		Content string `json:"content"`
	}
	_ = json.Unmarshal(evs[0].field("input"), &input)
	if input.Kind != "content" || input.Content != "What is the capital of France?" {
		t.Fatalf("run_started.input = %+v", input)
	}

	// Follow-up turn continues the conversation and the sequence.
	r2 := c.turn(r.SessionID, "What about Germany?")
	if r2.Text != "The capital of Germany is Berlin." {
		t.Fatalf("follow-up = %q", r2.Text)
	}
	if r2.Usage["input_tokens"] <= r.Usage["input_tokens"] {
		t.Errorf("history did not count toward input tokens: %v vs %v", r2.Usage, r.Usage)
	}
	all := c.events(r.SessionID)
	if all[len(all)-1].Seq != uint64(len(all)) {
		t.Fatalf("seq not continuous: last %d of %d", all[len(all)-1].Seq, len(all))
	}
	if got := c.turn(r.SessionID, "12 * 15").Text; got != "12 * 15 = 180." {
		t.Fatalf("arithmetic = %q", got)
	}
}

func TestSessionReadListHistoryArchive(t *testing.T) {
	c := startSim(t, sim.Options{})
	a := c.create(map[string]any{"prompt": "My name is Ada", "labels": map[string]string{"team": "red", "env": "test"}, "system_prompt": "Be brief."})
	b := c.create(map[string]any{"prompt": "hello", "labels": map[string]string{"team": "blue"}})
	c.turn(a.SessionID, "What is my name?")

	var read map[string]any
	c.ok("session/read", map[string]any{"session_id": a.SessionID}, &read)
	if read["session_id"] != a.SessionID || read["message_count"].(float64) != 5 || read["is_active"] != false ||
		read["model"] != "claude-sonnet-4-6" || read["provider"] != "anthropic" || read["last_assistant_text"] != "Your name is Ada." {
		t.Fatalf("read = %v", read)
	}

	type list struct {
		Sessions []struct {
			SessionID    string            `json:"session_id"`
			MessageCount int               `json:"message_count"`
			TotalTokens  int               `json:"total_tokens"`
			Labels       map[string]string `json:"labels"`
		} `json:"sessions"`
	}
	var all, red, page list
	c.ok("session/list", nil, &all)
	if len(all.Sessions) != 2 || all.Sessions[0].SessionID != a.SessionID || all.Sessions[0].TotalTokens == 0 {
		t.Fatalf("list = %+v", all)
	}
	c.ok("session/list", map[string]any{"labels": map[string]string{"team": "red"}}, &red)
	if len(red.Sessions) != 1 || red.Sessions[0].SessionID != a.SessionID {
		t.Fatalf("label filter = %+v", red)
	}
	c.ok("session/list", map[string]any{"limit": 1, "offset": 1}, &page)
	if len(page.Sessions) != 1 || page.Sessions[0].SessionID != b.SessionID {
		t.Fatalf("page = %+v", page)
	}

	type hist struct {
		SessionID    string            `json:"session_id"`
		MessageCount int               `json:"message_count"`
		Offset       int               `json:"offset"`
		Limit        int               `json:"limit"`
		HasMore      bool              `json:"has_more"`
		Messages     []json.RawMessage `json:"messages"`
	}
	var h hist
	c.ok("session/history", map[string]any{"session_id": a.SessionID}, &h)
	if h.MessageCount != 5 || len(h.Messages) != 5 || h.HasMore || h.Limit != 100 {
		t.Fatalf("history = %+v", h)
	}
	roles := []string{}
	for _, m := range h.Messages {
		var row map[string]any
		_ = json.Unmarshal(m, &row)
		roles = append(roles, row["role"].(string))
		if _, ok := row["created_at"].(string); !ok {
			t.Errorf("row without string created_at: %s", m)
		}
	}
	if !slices.Equal(roles, []string{"system", "user", "block_assistant", "user", "block_assistant"}) {
		t.Fatalf("roles = %v", roles)
	}
	var h2 hist
	c.ok("session/history", map[string]any{"session_id": a.SessionID, "offset": 1, "limit": 2}, &h2)
	if len(h2.Messages) != 2 || !h2.HasMore || h2.Offset != 1 || string(h2.Messages[0]) != string(h.Messages[1]) {
		t.Fatalf("paged history = %+v", h2)
	}
	if e := c.fail("session/history", map[string]any{"session_id": a.SessionID, "limit": 1001}); e.Code != -32602 {
		t.Fatalf("limit 1001: %+v", e)
	}

	var arch map[string]bool
	c.ok("session/archive", map[string]any{"session_id": b.SessionID}, &arch)
	if !arch["archived"] {
		t.Fatalf("archive = %v", arch)
	}
	for _, method := range []string{"session/read", "session/history", "session/archive", "turn/interrupt"} {
		e := c.fail(method, map[string]any{"session_id": b.SessionID})
		if e.Code != -32001 || e.Data != nil {
			t.Errorf("%s on archived session: %+v", method, e)
		}
	}
	if e := c.fail("turn/start", map[string]any{"session_id": b.SessionID, "prompt": "x"}); e.Code != -32001 {
		t.Errorf("turn on archived: %+v", e)
	}
}

func TestSessionParamErrors(t *testing.T) {
	c := startSim(t, sim.Options{})
	r := c.create(map[string]any{"prompt": "hi"})
	cases := []struct {
		method string
		params any
		code   int
	}{
		{"session/create", map[string]any{}, -32602},
		{"session/create", map[string]any{"prompt": 42}, -32602},
		{"session/create", map[string]any{"prompt": "x", "labels": "nope"}, -32602},
		{"session/create", map[string]any{"prompt": "x", "provider": "acme"}, -32602},
		{"session/create", map[string]any{"prompt": "x", "keep_alive": true}, -32602},
		{"session/create", map[string]any{"prompt": "x", "initial_turn": "later"}, -32602},
		{"session/create", map[string]any{"prompt": []map[string]any{{"type": "hologram"}}}, -32602},
		{"session/create", map[string]any{"prompt": []map[string]any{{"type": "image", "media_type": "image/png", "source": "inline"}}}, -32602},
		{"session/create", map[string]any{"prompt": "x", "skill_refs": []map[string]any{{"kind": "path", "source_uuid": "a", "skill_name": "b"}}}, -32602},
		{"session/create", map[string]any{"prompt": "x [[sim:teleport]]"}, -32602},
		{"turn/start", map[string]any{"session_id": r.SessionID}, -32602},
		{"turn/start", map[string]any{"prompt": "x"}, -32602},
		{"turn/start", map[string]any{"session_id": "not-a-uuid", "prompt": "x"}, -32001},
		{"turn/start", map[string]any{"session_id": "0190f0f0-0000-7000-8000-000000000000", "prompt": "x"}, -32001},
		{"session/read", map[string]any{}, -32602},
		{"session/read", map[string]any{"session_id": 5}, -32602},
		{"session/list", map[string]any{"limit": "ten"}, -32602},
	}
	for _, tc := range cases {
		e := c.fail(tc.method, tc.params)
		if e.Code != tc.code {
			t.Errorf("%s %s: code %d (%s), want %d", tc.method, mustJSON(t, tc.params), e.Code, e.Message, tc.code)
		}
	}
}

func TestDeferredCreate(t *testing.T) {
	c := startSim(t, sim.Options{})
	id := c.request("session/create", map[string]any{"prompt": "ignored until later", "initial_turn": "deferred"})
	resp := c.response(id)
	var res map[string]any
	_ = json.Unmarshal(resp.Result, &res)
	sid, _ := res["session_id"].(string)
	if len(res) != 2 || res["session_ref"] != nil || sid == "" {
		t.Fatalf("deferred result = %s", resp.Result)
	}
	if n := len(c.events(sid)); n != 0 {
		t.Fatalf("deferred create emitted %d events", n)
	}
	if got := c.turn(sid, "ping").Text; got != "pong" {
		t.Fatalf("first turn = %q", got)
	}
}

func TestMultimodalPrompt(t *testing.T) {
	c := startSim(t, sim.Options{})
	prompt := []map[string]any{
		{"type": "text", "text": "Describe this"},
		{"type": "image", "media_type": "image/png", "source": "inline", "data": "iVBORw0KGgo="},
		{"type": "image", "media_type": "image/png", "source": "blob", "blob_id": "blob_1"},
		{"type": "video", "media_type": "video/mp4", "duration_ms": 4000, "source": "uri", "uri": "https://example.com/v.mp4"},
	}
	r := c.create(map[string]any{"prompt": prompt})
	if !strings.HasPrefix(r.Text, "I can see 2 images and 1 video.") {
		t.Fatalf("reply = %q", r.Text)
	}
	var h struct {
		Messages []json.RawMessage `json:"messages"`
	}
	c.ok("session/history", map[string]any{"session_id": r.SessionID}, &h)
	var user struct {
		Content []map[string]any `json:"content"`
	}
	_ = json.Unmarshal(h.Messages[0], &user)
	if len(user.Content) != 4 || user.Content[2]["blob_id"] != "blob_1" {
		t.Fatalf("stored content = %s", h.Messages[0])
	}
}

func TestSessionBusyAndInterrupt(t *testing.T) {
	c := startSim(t, sim.Options{})
	r := c.create(map[string]any{"prompt": "hi"})
	var idle map[string]any
	c.ok("turn/interrupt", map[string]any{"session_id": r.SessionID}, &idle)
	if idle["interrupted"] != false || idle["result"] != "staged_noop" || idle["session_id"] != r.SessionID {
		t.Fatalf("idle interrupt = %v", idle)
	}

	mark := len(c.messages())
	slowID := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "count to 200 [[sim:slow 20ms]]"})
	c.waitAfter(mark, "first delta", func(m *wireMsg) bool {
		return m.Method == "session/event" && strings.Contains(m.Raw, `"text_delta"`) && strings.Contains(m.Raw, r.SessionID)
	})
	if e := c.fail("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "again"}); e.Code != -32002 || e.Data != nil {
		t.Fatalf("concurrent turn: %+v", e)
	}
	// Other requests are still served while the turn streams.
	var read map[string]any
	c.ok("session/read", map[string]any{"session_id": r.SessionID}, &read)
	if read["is_active"] != true {
		t.Fatalf("busy session is_active = %v", read["is_active"])
	}
	var intr map[string]any
	c.ok("turn/interrupt", map[string]any{"session_id": r.SessionID}, &intr)
	if intr["interrupted"] != true || intr["result"] != "interrupted" {
		t.Fatalf("interrupt = %v", intr)
	}
	resp := c.response(slowID)
	if resp.Error != nil {
		t.Fatalf("interrupted turn failed: %+v", resp.Error)
	}
	var res runResult
	_ = json.Unmarshal(resp.Result, &res)
	if !strings.HasPrefix(res.Text, "1") || strings.Contains(res.Text, "200") {
		t.Fatalf("partial text = %q", res.Text)
	}
	evs := c.eventsBefore(r.SessionID, resp)
	tail := types(evs[len(evs)-2:])
	if !slices.Equal(tail, []string{"turn_completed", "run_completed"}) {
		t.Fatalf("tail = %v", tail)
	}
	var stop string
	_ = json.Unmarshal(evs[len(evs)-2].field("stop_reason"), &stop)
	if stop != "cancelled" {
		t.Fatalf("stop_reason = %q", stop)
	}
	// The session is usable again.
	c.turn(r.SessionID, "ping")

	// interrupt_error variant answers REQUEST_CANCELLED.
	mark = len(c.messages())
	errID := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "count to 300 [[sim:slow 20ms]] [[sim:interrupt_error]]"})
	c.waitAfter(mark, "delta", func(m *wireMsg) bool {
		return strings.Contains(m.Raw, `"delta":"1"`) && strings.Contains(m.Raw, r.SessionID)
	})
	c.ok("turn/interrupt", map[string]any{"session_id": r.SessionID}, nil)
	if e := c.response(errID).Error; e == nil || e.Code != -32005 {
		t.Fatalf("interrupt_error response: %+v", e)
	}
}

func TestCancelNotification(t *testing.T) {
	c := startSim(t, sim.Options{TokenDelay: 10 * time.Millisecond})
	r := c.create(map[string]any{"prompt": "hi [[sim:slow 0s]]"})
	mark := len(c.messages())
	id := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "count to 500"})
	c.waitAfter(mark, "delta", func(m *wireMsg) bool { return strings.Contains(m.Raw, `"delta":"1"`) })
	c.send(fmt.Sprintf(`{"jsonrpc":"2.0","method":"cancel","params":{"id":%s}}`, id))
	if e := c.response(id).Error; e == nil || e.Code != -32005 {
		t.Fatalf("cancelled turn: %+v", e)
	}
}

func TestMaxTokens(t *testing.T) {
	c := startSim(t, sim.Options{})
	id := c.request("session/create", map[string]any{"prompt": "What is the capital of France?", "max_tokens": 3})
	resp := c.response(id)
	var r runResult
	_ = json.Unmarshal(resp.Result, &r)
	if r.Text != "The capital of" || r.Usage["output_tokens"] != 3 {
		t.Fatalf("capped reply = %+v", r)
	}
	evs := c.eventsBefore(r.SessionID, resp)
	var stop string
	_ = json.Unmarshal(evs[len(evs)-2].field("stop_reason"), &stop)
	if stop != "max_tokens" {
		t.Fatalf("stop_reason = %q", stop)
	}
	var r2 runResult
	c.ok("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "ping", "max_tokens": 0}, &r2)
	if r2.Text != "pong" {
		t.Fatalf("uncapped turn = %q", r2.Text)
	}
}
