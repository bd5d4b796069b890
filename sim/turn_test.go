package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/sim"
)

func registerTools(c *simClient, names ...string) {
	tools := []map[string]any{}
	for _, n := range names {
		tools = append(tools, map[string]any{"name": n, "description": "tool " + n, "input_schema": map[string]any{"type": "object"}})
	}
	var r map[string]int
	c.ok("tools/register", map[string]any{"tools": tools}, &r)
	if r["registered"] != len(names) {
		c.t.Fatalf("registered = %v", r)
	}
}

func TestCallbackTool(t *testing.T) {
	c := startSim(t, sim.Options{})
	registerTools(c, "search")
	id := c.request("session/create", map[string]any{"prompt": `Find Go docs [[sim:tool search {"q":"go"}]]`})
	req := c.waitFor("tool/execute", func(m *wireMsg) bool { return m.Method == "tool/execute" })
	var p struct {
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	}
	_ = json.Unmarshal(req.Params, &p)
	var reqID string
	if err := json.Unmarshal(req.ID, &reqID); err != nil || !strings.HasPrefix(reqID, "cb-") {
		t.Fatalf("callback id %s", req.ID)
	}
	if p.Name != "search" || p.Arguments["q"] != "go" {
		t.Fatalf("tool/execute params = %s", req.Params)
	}
	// The runtime keeps serving while it waits for the tool.
	c.ok("session/list", nil, nil)
	c.send(`{"jsonrpc":"2.0","id":"` + reqID + `","result":{"content":"Results for go","is_error":false}}`)
	resp := c.response(id)
	var r runResult
	_ = json.Unmarshal(resp.Result, &r)
	if r.Turns != 2 || r.ToolCalls != 1 || !strings.Contains(r.Text, "Results for go") {
		t.Fatalf("result = %+v", r)
	}
	got := types(c.eventsBefore(r.SessionID, resp))
	want := []string{"run_started", "turn_started", "tool_call_requested", "turn_completed", "tool_execution_started",
		"tool_execution_completed", "tool_result_received", "turn_started"}
	if !slices.Equal(got[:len(want)], want) || got[len(got)-1] != "run_completed" {
		t.Fatalf("events = %v", got)
	}
	var h struct {
		Messages []map[string]any `json:"messages"`
	}
	c.ok("session/history", map[string]any{"session_id": r.SessionID}, &h)
	roles := []string{}
	for _, m := range h.Messages {
		roles = append(roles, m["role"].(string))
	}
	if !slices.Equal(roles, []string{"user", "block_assistant", "tool_results", "block_assistant"}) {
		t.Fatalf("history roles = %v", roles)
	}

	// Unregistered tool: error result without a callback; tool error replies.
	r2 := c.turn(r.SessionID, `[[sim:tool missing {}]]`)
	if r2.ToolCalls != 1 || !strings.Contains(r2.Text, "Unknown tool: missing") {
		t.Fatalf("unknown tool = %+v", r2)
	}
	id3 := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": `[[sim:tool search {"q":1}]]`})
	req3 := c.waitAfter(c.indexOf(req)+1, "second tool/execute", func(m *wireMsg) bool { return m.Method == "tool/execute" })
	c.send(`{"jsonrpc":"2.0","id":` + string(req3.ID) + `,"error":{"code":-32000,"message":"boom"}}`)
	var r3 runResult
	_ = json.Unmarshal(c.response(id3).Result, &r3)
	if !strings.Contains(r3.Text, "Tool error: boom") {
		t.Fatalf("tool error reply = %q", r3.Text)
	}
}

func TestCallbackToolPendingAtEOF(t *testing.T) {
	c := startSim(t, sim.Options{})
	registerTools(c, "slow")
	id := c.request("session/create", map[string]any{"prompt": `[[sim:tool slow {}]]`})
	c.waitFor("tool/execute", func(m *wireMsg) bool { return m.Method == "tool/execute" })
	// Closing stdin fails the pending callback; the turn still answers.
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	var r runResult
	_ = json.Unmarshal(c.response(id).Result, &r)
	if !strings.Contains(r.Text, "Tool error") {
		t.Fatalf("reply = %q", r.Text)
	}
}

func TestStructuredOutput(t *testing.T) {
	c := startSim(t, sim.Options{})
	schema := map[string]any{
		"type":     "object",
		"required": []string{"city", "population", "tags", "ok", "kind"},
		"properties": map[string]any{
			"city":       map[string]any{"type": "string", "minLength": 3},
			"population": map[string]any{"type": "integer", "minimum": 1000},
			"ratio":      map[string]any{"type": "number", "maximum": 1},
			"tags":       map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "minItems": 2},
			"ok":         map[string]any{"type": "boolean"},
			"kind":       map[string]any{"enum": []string{"capital", "town"}},
			"fixed":      map[string]any{"const": "v1"},
			"nested":     map[string]any{"$ref": "#/$defs/Nested"},
		},
		"$defs": map[string]any{"Nested": map[string]any{"type": "object", "properties": map[string]any{"when": map[string]any{"type": "string", "format": "date-time"}}}},
	}
	for _, wrapped := range []bool{false, true} {
		var os any = schema
		if wrapped {
			os = map[string]any{"schema": schema, "name": "answer"}
		}
		id := c.request("session/create", map[string]any{"prompt": "Tell me about Paris", "output_schema": os})
		resp := c.response(id)
		var r runResult
		_ = json.Unmarshal(resp.Result, &r)
		var v map[string]any
		if err := json.Unmarshal(r.StructuredOutput, &v); err != nil {
			t.Fatalf("structured_output %s: %v", r.StructuredOutput, err)
		}
		if len(v["city"].(string)) < 3 || v["population"].(float64) < 1000 || v["ratio"].(float64) > 1 ||
			len(v["tags"].([]any)) < 2 || v["ok"] != true || v["kind"] != "capital" || v["fixed"] != "v1" ||
			v["nested"].(map[string]any)["when"] == nil {
			t.Fatalf("structured output does not satisfy schema: %s", r.StructuredOutput)
		}
		if r.Text != string(r.StructuredOutput) {
			t.Errorf("text %q != structured %s", r.Text, r.StructuredOutput)
		}
		evs := types(c.eventsBefore(r.SessionID, resp))
		if evs[len(evs)-1] != "extraction_succeeded" || evs[len(evs)-2] != "run_completed" {
			t.Fatalf("events = %v", evs)
		}
	}
	id := c.request("session/create", map[string]any{"prompt": "hello [[sim:extraction_fail]]", "output_schema": schema, "structured_output_retries": 1})
	resp := c.response(id)
	var r runResult
	_ = json.Unmarshal(resp.Result, &r)
	if r.ExtractionError == nil || r.ExtractionError.Attempts != 2 || string(r.StructuredOutput) != "null" ||
		r.TerminalCauseKind == nil || *r.TerminalCauseKind != "structured_output_validation_failed" {
		t.Fatalf("extraction failure result = %s", resp.Result)
	}
	if evs := types(c.eventsBefore(r.SessionID, resp)); evs[len(evs)-1] != "extraction_failed" {
		t.Fatalf("events = %v", evs)
	}
}

func TestSkills(t *testing.T) {
	c := startSim(t, sim.Options{})
	var list struct {
		Skills []struct {
			Key struct {
				SourceUUID string `json:"source_uuid"`
				SkillName  string `json:"skill_name"`
			} `json:"key"`
			Name  string `json:"name"`
			Scope string `json:"scope"`
		} `json:"skills"`
	}
	c.ok("skills/list", nil, &list)
	if len(list.Skills) != 2 {
		t.Fatalf("skills = %+v", list)
	}
	k := list.Skills[0].Key
	ref := map[string]string{"kind": "structured", "source_uuid": k.SourceUUID, "skill_name": k.SkillName}
	bad := map[string]string{"kind": "structured", "source_uuid": "00000000-0000-4000-8000-000000000000", "skill_name": "nope"}
	r := c.create(map[string]any{"prompt": "hi", "preload_skills": []map[string]string{{"source_uuid": k.SourceUUID, "skill_name": k.SkillName}}})
	if !strings.Contains(r.Text, "Using skill "+k.SkillName) {
		t.Fatalf("preload reply = %q", r.Text)
	}
	r2 := c.turn(r.SessionID, "plain")
	if strings.Contains(r2.Text, "Using skill") {
		t.Fatalf("preload applied twice: %q", r2.Text)
	}
	var r3 runResult
	c.ok("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "review", "skill_refs": []map[string]string{ref, bad}}, &r3)
	evs := c.events(r.SessionID)
	var resolved, failed int
	for _, e := range evs {
		switch e.Type() {
		case "skills_resolved":
			resolved++
		case "skill_resolution_failed":
			failed++
		}
	}
	if resolved != 2 || failed != 1 || !strings.Contains(r3.Text, "Using skill "+k.SkillName) {
		t.Fatalf("resolved=%d failed=%d text=%q", resolved, failed, r3.Text)
	}
}

func TestDirectivesErrorsAndFaults(t *testing.T) {
	c := startSim(t, sim.Options{})
	r := c.create(map[string]any{"prompt": "hi"})
	cases := []struct {
		prompt  string
		code    int
		message string
		data    string
	}{
		{"[[sim:error -32010 provider down]]", -32010, "provider down", ""},
		{`[[sim:error -32027 {"watermark":5}]]`, -32027, "STALE_CURSOR", `{"watermark":5}`},
		{`[[sim:error -32025 {"code":"SCOPE_DENIED","message":"no scope","details":{"required":"read_history","presented":[]}}]]`, -32025, "no scope",
			`{"code":"SCOPE_DENIED","message":"no scope","details":{"required":"read_history","presented":[]}}`},
		{`x [[sim:error -32028 stale fence {"expected":3,"actual":2}]] y`, -32028, "stale fence", `{"expected":3,"actual":2}`},
	}
	for _, tc := range cases {
		e := c.fail("turn/start", map[string]any{"session_id": r.SessionID, "prompt": tc.prompt})
		if e.Code != tc.code || e.Message != tc.message || string(e.Data) != tc.data {
			t.Errorf("%s: got %d %q %s", tc.prompt, e.Code, e.Message, e.Data)
		}
	}
	// The failed turns emitted run_failed and left the session usable.
	evs := c.events(r.SessionID)
	if evs[len(evs)-1].Type() != "run_failed" {
		t.Fatalf("last event %s", evs[len(evs)-1].Type())
	}

	// garbage + unknown_event + orphan_event + late_event.
	id := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "ping [[sim:garbage]] [[sim:unknown_event]] [[sim:orphan_event]] [[sim:late_event]]"})
	resp := c.response(id)
	if g := c.garbageLines(); len(g) != 1 {
		t.Fatalf("garbage lines = %q", g)
	}
	var res runResult
	_ = json.Unmarshal(resp.Result, &res)
	if res.Text != "pong" {
		t.Fatalf("text = %q", res.Text)
	}
	late := c.waitAfter(c.indexOf(resp), "late event", func(m *wireMsg) bool {
		return m.Method == "session/event" && strings.Contains(m.Raw, `"run_completed"`)
	})
	if late == nil {
		t.Fatal("no late event")
	}
	if before := types(c.eventsBefore(r.SessionID, resp)); before[len(before)-1] != "turn_completed" {
		t.Fatalf("events before the response end with %s", before[len(before)-1])
	}
	all := types(c.events(r.SessionID))
	if !slices.Contains(all, "sim_unknown_event") {
		t.Fatalf("no unknown event in %v", all)
	}
	orphans := 0
	for _, m := range c.messages() {
		if m.Method == "session/event" && !strings.Contains(m.Raw, r.SessionID) {
			orphans++
		}
	}
	if orphans != 1 {
		t.Fatalf("orphan events = %d", orphans)
	}
}

func TestTokenFlood(t *testing.T) {
	c := startSim(t, sim.Options{})
	const n = 20000
	r := c.create(map[string]any{"prompt": "[[sim:tokens 20000]]"})
	if r.Usage["output_tokens"] != n || len(strings.Fields(r.Text)) != n {
		t.Fatalf("usage %v, %d words", r.Usage, len(strings.Fields(r.Text)))
	}
	deltas := 0
	for _, e := range c.events(r.SessionID) {
		if e.Type() == "text_delta" {
			deltas++
		}
	}
	if deltas != n {
		t.Fatalf("deltas = %d", deltas)
	}
}

func TestCrash(t *testing.T) {
	c := startSim(t, sim.Options{})
	r := c.create(map[string]any{"prompt": "hi"})
	c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "count to 10 [[sim:crash]]"})
	if err := c.waitServe(); !errors.Is(err, sim.ErrSimulatedCrash) {
		t.Fatalf("Serve = %v", err)
	}
	evs := types(c.events(r.SessionID))
	last := slices.Index(evs, "run_completed") + 1
	crashed := evs[last:]
	if crashed[0] != "run_started" || crashed[len(crashed)-1] != "text_delta" || slices.Contains(crashed, "run_completed") || len(crashed) != 2+5 {
		t.Fatalf("crash events = %v", crashed)
	}
}

func TestHang(t *testing.T) {
	opts := testOptions(t, sim.Options{})
	inR, inW := newPipe()
	outR, outW := newPipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sim.Serve(ctx, inR, outW, opts)
		_ = outW.Close()
		_ = inR.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		buf := make([]byte, 1<<16)
		var acc []byte
		for {
			n, err := outR.Read(buf)
			acc = append(acc, buf[:n]...)
			for {
				i := strings.IndexByte(string(acc), '\n')
				if i < 0 {
					break
				}
				lines <- string(acc[:i])
				acc = acc[i+1:]
			}
			if err != nil {
				return
			}
		}
	}()
	write := func(s string) {
		if _, err := inW.Write([]byte(s + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"jsonrpc":"2.0","id":1,"method":"session/create","params":{"prompt":"hi [[sim:hang]]"}}`)
	deadline := time.After(5 * time.Second)
	sawStart := false
	for !sawStart {
		select {
		case l := <-lines:
			sawStart = strings.Contains(l, "turn_started")
		case <-deadline:
			t.Fatal("no turn_started")
		}
	}
	write(`{"jsonrpc":"2.0","id":2,"method":"session/list","params":{}}`)
	_ = inW.Close() // EOF is ignored while hung
	select {
	case l := <-lines:
		if l != "" {
			t.Fatalf("hung runtime wrote %q", l)
		}
	case err := <-done:
		t.Fatalf("Serve returned while hung: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve ignored cancellation")
	}
	for range lines {
	}
}

func TestScriptFile(t *testing.T) {
	dir := t.TempDir()
	script := `{"rules":[
		{"prompt_contains":"weather","reply":"Sunny all week."},
		{"labels":{"team":"red"},"directives":"[[sim:error -32010 provider down]]"},
		{"method":"skills/list","directives":"[[sim:error -32603 skills offline]]"},
		{"method":"turn/start","prompt_contains":"SLOWME","directives":"[[sim:slow 1ms]] [[sim:late_event]]"}
	]}`
	path := filepath.Join(dir, "script.json")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	c := startSim(t, sim.Options{ScriptPath: path})
	if r := c.create(map[string]any{"prompt": "What's the weather?"}); r.Text != "Sunny all week." {
		t.Fatalf("scripted reply = %q", r.Text)
	}
	if e := c.fail("session/create", map[string]any{"prompt": "hi", "labels": map[string]string{"team": "red"}}); e.Code != -32010 {
		t.Fatalf("label rule: %+v", e)
	}
	if e := c.fail("skills/list", nil); e.Code != -32603 || e.Message != "skills offline" {
		t.Fatalf("method rule: %+v", e)
	}
	r := c.create(map[string]any{"prompt": "hi"})
	id := c.request("turn/start", map[string]any{"session_id": r.SessionID, "prompt": "SLOWME"})
	resp := c.response(id)
	c.waitAfter(c.indexOf(resp), "late event", func(m *wireMsg) bool { return strings.Contains(m.Raw, `"run_completed"`) })

	if err := os.WriteFile(path, []byte(`{"rules":[{"directives":"[[sim:nope]]"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sim.Serve(context.Background(), strings.NewReader(""), &strings.Builder{}, sim.Options{ScriptPath: path}); err == nil {
		t.Fatal("invalid script accepted")
	}
}
