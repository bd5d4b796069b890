package sim_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/sim"
)

func triageDefinition() map[string]any {
	return map[string]any{
		"id":           "triage",
		"orchestrator": map[string]any{"profile": "lead"},
		"profiles": map[string]any{
			"lead":    map[string]any{"model": "claude-opus-4-8", "peer_description": "Coordinates", "tools": map[string]any{"builtins": true, "comms": true, "mob": true}},
			"analyst": map[string]any{"model": "claude-sonnet-4-6", "runtime_mode": "turn_driven"},
		},
		"wiring": map[string]any{"auto_wire_orchestrator": true, "role_wiring": []map[string]string{{"a": "lead", "b": "analyst"}}},
		"limits": map[string]any{"max_flow_duration_ms": 600000, "max_step_retries": 1},
		"flows": map[string]any{
			"review": map[string]any{"steps": map[string]any{
				"scan": map[string]any{"role": "lead", "message": "Pick an issue: {{ params.topic }}"},
				"dig":  map[string]any{"role": "analyst", "message": "Investigate {{ steps.scan.output }}", "depends_on": []string{"scan"}, "dispatch_mode": "fan_out"},
				"sum":  map[string]any{"role": "lead", "message": "Summarise", "depends_on": []string{"dig"}, "dispatch_mode": "fan_in", "timeout_ms": 120000},
				"skip": map[string]any{"role": "lead", "message": "never", "condition": map[string]any{"op": "eq", "path": "params.topic", "value": "other"}},
			}},
			"main": map[string]any{"steps": map[string]any{
				"answer": map[string]any{"role": "analyst", "message": "{{ params.prompt }}"},
			}},
			"broken": map[string]any{"steps": map[string]any{
				"a": map[string]any{"role": "analyst", "message": "[[sim:error -32010 provider down]]"},
				"b": map[string]any{"role": "lead", "message": "after", "depends_on": []string{"a"}},
			}},
		},
	}
}

func TestMobCreateValidation(t *testing.T) {
	c := startSim(t, sim.Options{})
	bad := []map[string]any{
		{},
		{"definition": map[string]any{"profiles": map[string]any{"a": map[string]any{"model": "m"}}}},
		{"definition": map[string]any{"id": "x"}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}}, "members": []string{}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m", "colour": "red"}}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{}}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}}, "orchestrator": "a"}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}}, "orchestrator": map[string]any{"profile": "b"}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}},
			"flows": map[string]any{"f": map[string]any{"steps": map[string]any{"s": map[string]any{"role": "zz", "message": "m"}}}}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}},
			"flows": map[string]any{"f": map[string]any{"steps": map[string]any{
				"s1": map[string]any{"role": "a", "message": "m", "depends_on": []string{"s2"}},
				"s2": map[string]any{"role": "a", "message": "m", "depends_on": []string{"s1"}}}}}}},
		{"definition": map[string]any{"id": "x", "profiles": map[string]any{"a": map[string]any{"model": "m"}}}, "prefab": "coding_swarm"},
	}
	for _, p := range bad {
		if e := c.fail("mob/create", p); e.Code != -32602 {
			t.Errorf("%s: %+v", mustJSON(t, p), e)
		}
	}
	var res map[string]string
	c.ok("mob/create", map[string]any{"definition": triageDefinition()}, &res)
	if res["mob_id"] != "triage" {
		t.Fatalf("create = %v", res)
	}
	if e := c.fail("mob/create", map[string]any{"definition": triageDefinition()}); e.Code != -32602 || !strings.Contains(e.Message, "already exists") {
		t.Fatalf("duplicate = %+v", e)
	}
	// Realm-profile references are accepted.
	c.ok("mob/create", map[string]any{"definition": map[string]any{"id": "ref", "profiles": map[string]any{"w": map[string]any{"realm_profile": "worker"}}}}, nil)
}

type memberList struct {
	MobID   string `json:"mob_id"`
	Members []struct {
		AgentIdentity string   `json:"agent_identity"`
		MemberRef     string   `json:"member_ref"`
		Role          string   `json:"role"`
		RuntimeMode   string   `json:"runtime_mode"`
		WiredTo       []string `json:"wired_to"`
		Status        string   `json:"status"`
		PeerID        string   `json:"peer_id"`
	} `json:"members"`
}

func TestMobLifecycleMembersAndFlows(t *testing.T) {
	c := startSim(t, sim.Options{})
	c.ok("mob/create", map[string]any{"definition": triageDefinition()}, nil)

	var mobStream struct {
		StreamID string `json:"stream_id"`
	}
	c.ok("mob/stream_open", map[string]any{"mob_id": "triage"}, &mobStream)
	if !uuidRE.MatchString(mobStream.StreamID) {
		t.Fatalf("mob stream = %+v", mobStream)
	}
	var spawn map[string]string
	c.ok("mob/spawn", map[string]any{"mob_id": "triage", "profile": "lead", "agent_identity": "lead-1", "initial_message": nil, "runtime_mode": nil,
		"backend": nil, "labels": nil, "context": nil, "additional_instructions": nil}, &spawn)
	if spawn["mob_id"] != "triage" || spawn["agent_identity"] != "lead-1" || spawn["member_ref"] == "" {
		t.Fatalf("spawn = %v", spawn)
	}
	var many struct {
		Results []struct {
			Status string         `json:"status"`
			Result map[string]any `json:"result"`
		} `json:"results"`
	}
	c.ok("mob/spawn_many", map[string]any{"mob_id": "triage", "specs": []map[string]any{
		{"profile": "analyst", "agent_identity": "a-1"},
		{"profile": "analyst", "agent_identity": "a-2", "initial_message": "What is the capital of Spain?"},
		{"profile": "ghost", "agent_identity": "g-1"},
		{"profile": "lead", "agent_identity": "lead-1"},
	}}, &many)
	if len(many.Results) != 4 || many.Results[0].Status != "spawned" || many.Results[2].Status != "failed" ||
		many.Results[2].Result["cause"] != "profile_not_found" || many.Results[3].Result["cause"] != "member_already_exists" {
		t.Fatalf("spawn_many = %+v", many)
	}
	var members memberList
	c.ok("mob/members", map[string]any{"mob_id": "triage"}, &members)
	if len(members.Members) != 3 {
		t.Fatalf("members = %+v", members)
	}
	for _, m := range members.Members {
		if m.Role == "lead" && !slices.Equal(m.WiredTo, []string{"a-1", "a-2"}) {
			t.Errorf("lead wiring = %v", m.WiredTo)
		}
		if m.Role == "analyst" && (m.RuntimeMode != "turn_driven" || !slices.Equal(m.WiredTo, []string{"lead-1"})) {
			t.Errorf("analyst = %+v", m)
		}
	}
	// The kickoff turn of a-2 streams attributed events on the mob stream.
	c.waitFor("attributed kickoff", func(m *wireMsg) bool {
		return m.Method == "mob/stream_event" && strings.Contains(m.Raw, `"identity":"a-2"`) && strings.Contains(m.Raw, "Madrid") && strings.Contains(m.Raw, "run_completed")
	})

	c.ok("mob/unwire", map[string]any{"mob_id": "triage", "member": "a-1", "peer": map[string]string{"local": "lead-1"}}, nil)
	c.ok("mob/wire", map[string]any{"mob_id": "triage", "member": "a-1", "peer": map[string]string{"local": "a-2"}}, nil)
	if e := c.fail("mob/wire", map[string]any{"mob_id": "triage", "member": "a-1", "peer": map[string]string{"local": "nobody"}}); e.Code != -32602 {
		t.Fatalf("wire unknown: %+v", e)
	}
	c.ok("mob/members", map[string]any{"mob_id": "triage"}, &members)
	for _, m := range members.Members {
		if m.AgentIdentity == "a-1" && !slices.Equal(m.WiredTo, []string{"a-2"}) {
			t.Fatalf("a-1 wiring = %v", m.WiredTo)
		}
	}

	// A per-member stream carries bare envelopes of that member only.
	var memberStream struct {
		StreamID string `json:"stream_id"`
	}
	c.ok("mob/stream_open", map[string]any{"mob_id": "triage", "agent_identity": "a-1"}, &memberStream)
	var send map[string]string
	c.ok("mob/member_send", map[string]any{"mob_id": "triage", "agent_identity": "a-1", "content": "ping", "handling_mode": "queue", "render_metadata": nil}, &send)
	if send["handling_mode"] != "queue" || send["member_ref"] == "" {
		t.Fatalf("member_send = %v", send)
	}
	c.waitFor("member stream event", func(m *wireMsg) bool {
		return m.Method == "mob/stream_event" && strings.Contains(m.Raw, memberStream.StreamID) && strings.Contains(m.Raw, `"pong"`)
	})
	for _, m := range c.messages() {
		if m.Method == "mob/stream_event" && strings.Contains(m.Raw, memberStream.StreamID) && strings.Contains(m.Raw, `"envelope"`) {
			t.Fatalf("per-member stream carried an attributed event: %s", m.Raw)
		}
	}

	// Flows.
	var flows struct {
		Flows []string `json:"flows"`
	}
	c.ok("mob/flows", map[string]any{"mob_id": "triage"}, &flows)
	if !slices.Equal(flows.Flows, []string{"broken", "main", "review"}) {
		t.Fatalf("flows = %v", flows.Flows)
	}
	var run struct {
		RunID string `json:"run_id"`
	}
	c.ok("mob/flow_run", map[string]any{"mob_id": "triage", "flow_id": "review", "params": map[string]any{"topic": "flaky tests"}}, &run)
	status := waitRun(t, c, "triage", run.RunID)
	if status.Status != "completed" {
		t.Fatalf("run = %+v", status)
	}
	stepsDone := map[string]int{}
	for _, e := range status.StepLedger {
		stepsDone[e.StepID+":"+e.Status]++
	}
	if stepsDone["scan:completed"] != 1 || stepsDone["dig:completed"] != 2 || stepsDone["sum:completed"] != 1 || stepsDone["skip:skipped"] != 1 {
		t.Fatalf("ledger = %v", stepsDone)
	}
	var ev struct {
		Events []struct {
			Cursor int `json:"cursor"`
			Kind   struct {
				Type string `json:"type"`
			} `json:"kind"`
		} `json:"events"`
	}
	c.ok("mob/events", map[string]any{"mob_id": "triage", "after_cursor": 0, "limit": 1000}, &ev)
	kinds := []string{}
	for i, e := range ev.Events {
		if e.Cursor != i+1 {
			t.Fatalf("cursor %d at %d", e.Cursor, i)
		}
		kinds = append(kinds, e.Kind.Type)
	}
	for _, k := range []string{"mob_created", "member_spawned", "members_wired", "members_unwired", "flow_started", "step_dispatched", "step_completed", "step_skipped", "flow_completed"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("mob events lack %s: %v", k, kinds)
		}
	}
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	c.ok("mob/events", map[string]any{"mob_id": "triage", "after_cursor": 2, "limit": 3}, &page)
	if len(page.Events) != 3 || !strings.Contains(string(page.Events[0]), `"cursor":3`) {
		t.Fatalf("page = %s", page.Events)
	}
	if e := c.fail("mob/events", map[string]any{"mob_id": "triage", "after_cursor": 1 << 40, "strict": true}); e.Code != -32027 || !strings.Contains(string(e.Data), "watermark") {
		t.Fatalf("stale cursor = %+v", e)
	}

	// mob/run defaults to the main flow with prompt sugar.
	c.ok("mob/run", map[string]any{"mob_id": "triage", "params": map[string]any{}, "prompt": "What is the capital of Japan?"}, &run)
	main := waitRun(t, c, "triage", run.RunID)
	if main.Status != "completed" || !strings.Contains(string(main.Output), "Tokyo") {
		t.Fatalf("main run = %+v", main)
	}
	// A failing step fails the run and skips nothing after it.
	c.ok("mob/flow_run", map[string]any{"mob_id": "triage", "flow_id": "broken", "params": nil}, &run)
	broken := waitRun(t, c, "triage", run.RunID)
	if broken.Status != "failed" || len(broken.FailureLedger) != 1 || broken.FailureLedger[0].StepID != "a" {
		t.Fatalf("broken run = %+v", broken)
	}
	if e := c.fail("mob/flow_run", map[string]any{"mob_id": "triage", "flow_id": "nope"}); e.Code != -32602 {
		t.Fatalf("unknown flow: %+v", e)
	}
	var none struct {
		Run json.RawMessage `json:"run"`
	}
	c.ok("mob/flow_status", map[string]any{"mob_id": "triage", "run_id": "missing"}, &none)
	if string(none.Run) != "null" {
		t.Fatalf("unknown run = %s", none.Run)
	}

	// Retire / respawn.
	var ms map[string]any
	c.ok("mob/member_status", map[string]any{"mob_id": "triage", "agent_identity": "a-1"}, &ms)
	oldSession := ms["current_session_id"]
	var resp struct {
		Status  string `json:"status"`
		Receipt struct {
			Identity  string `json:"identity"`
			MemberRef string `json:"member_ref"`
		} `json:"receipt"`
	}
	c.ok("mob/respawn", map[string]any{"mob_id": "triage", "agent_identity": "a-1", "initial_message": nil}, &resp)
	if resp.Status != "completed" || resp.Receipt.Identity != "a-1" {
		t.Fatalf("respawn = %+v", resp)
	}
	c.ok("mob/member_status", map[string]any{"mob_id": "triage", "agent_identity": "a-1"}, &ms)
	if ms["current_session_id"] == oldSession {
		t.Fatal("respawn kept the old session")
	}
	if e := c.fail("session/read", map[string]any{"session_id": oldSession}); e.Code != -32001 {
		t.Fatalf("old member session still readable: %+v", e)
	}
	var retired map[string]bool
	c.ok("mob/retire", map[string]any{"mob_id": "triage", "agent_identity": "a-2"}, &retired)
	if !retired["retired"] {
		t.Fatalf("retire = %v", retired)
	}
	if e := c.fail("mob/retire", map[string]any{"mob_id": "triage", "agent_identity": "a-2"}); e.Code != -32602 {
		t.Fatalf("retire twice: %+v", e)
	}
	// Member sessions are not listed as ordinary sessions.
	var list struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	c.ok("session/list", nil, &list)
	if len(list.Sessions) != 0 {
		t.Fatalf("member sessions listed: %d", len(list.Sessions))
	}

	// Lifecycle.
	var lc map[string]any
	c.ok("mob/lifecycle", map[string]any{"mob_id": "triage", "action": "stop"}, &lc)
	if lc["ok"] != true || lc["action"] != "stop" {
		t.Fatalf("lifecycle = %v", lc)
	}
	var st map[string]string
	c.ok("mob/status", map[string]any{"mob_id": "triage"}, &st)
	if st["status"] != "Stopped" {
		t.Fatalf("status = %v", st)
	}
	if e := c.fail("mob/spawn", map[string]any{"mob_id": "triage", "profile": "lead", "agent_identity": "x"}); e.Code != -32602 {
		t.Fatalf("spawn on stopped mob: %+v", e)
	}
	c.ok("mob/lifecycle", map[string]any{"mob_id": "triage", "action": "resume"}, nil)
	if e := c.fail("mob/lifecycle", map[string]any{"mob_id": "triage", "action": "explode"}); e.Code != -32602 {
		t.Fatalf("bad action: %+v", e)
	}
	var mobs struct {
		Mobs []map[string]string `json:"mobs"`
	}
	c.ok("mob/list", nil, &mobs)
	if len(mobs.Mobs) != 1 || mobs.Mobs[0]["status"] != "Running" {
		t.Fatalf("list = %+v", mobs)
	}
	c.ok("mob/lifecycle", map[string]any{"mob_id": "triage", "action": "destroy"}, &lc)
	if e := c.fail("mob/status", map[string]any{"mob_id": "triage"}); e.Code != -32602 {
		t.Fatalf("status after destroy: %+v", e)
	}
	ends := 0
	for _, m := range c.messages() {
		if m.Method == "mob/stream_end" {
			ends++
		}
	}
	if ends < 2 {
		t.Fatalf("mob stream ends = %d", ends)
	}
	var closed map[string]any
	c.ok("mob/stream_close", map[string]any{"stream_id": mobStream.StreamID}, &closed)
	if closed["already_closed"] != true {
		t.Fatalf("close after destroy = %v", closed)
	}
}

type runRecord struct {
	RunID      string          `json:"run_id"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	StepLedger []struct {
		StepID string `json:"step_id"`
		Status string `json:"status"`
	} `json:"step_ledger"`
	FailureLedger []struct {
		StepID string `json:"step_id"`
		Reason string `json:"reason"`
	} `json:"failure_ledger"`
}

func waitRun(t *testing.T, c *simClient, mobID, runID string) runRecord {
	t.Helper()
	for i := 0; i < 2000; i++ {
		var st struct {
			Run *runRecord `json:"run"`
		}
		c.ok("mob/flow_status", map[string]any{"mob_id": mobID, "run_id": runID}, &st)
		if st.Run == nil {
			t.Fatalf("run %s vanished", runID)
		}
		if st.Run.Status != "running" {
			var rr struct {
				Run *runRecord `json:"run"`
			}
			c.ok("mob/run_result", map[string]any{"mob_id": mobID, "run_id": runID}, &rr)
			return *rr.Run
		}
		c.waitFor("progress", func(*wireMsg) bool { return true })
	}
	t.Fatalf("run %s did not finish", runID)
	return runRecord{}
}

func TestMobFlowCancel(t *testing.T) {
	c := startSim(t, sim.Options{})
	def := map[string]any{"id": "slow", "profiles": map[string]any{"w": map[string]any{"model": "m"}},
		"flows": map[string]any{"f": map[string]any{"steps": map[string]any{"s": map[string]any{"role": "w", "message": "count to 500 [[sim:slow 10ms]]"}}}}}
	c.ok("mob/create", map[string]any{"definition": def}, nil)
	c.ok("mob/spawn", map[string]any{"mob_id": "slow", "profile": "w", "agent_identity": "w1"}, nil)
	var run struct {
		RunID string `json:"run_id"`
	}
	c.ok("mob/flow_run", map[string]any{"mob_id": "slow", "flow_id": "f", "params": map[string]any{}}, &run)
	c.waitFor("step streaming", func(m *wireMsg) bool { return strings.Contains(m.Raw, `"delta":" 3"`) })
	var canceled map[string]bool
	c.ok("mob/flow_cancel", map[string]any{"mob_id": "slow", "run_id": run.RunID}, &canceled)
	if !canceled["canceled"] {
		t.Fatalf("cancel = %v", canceled)
	}
	if rec := waitRun(t, c, "slow", run.RunID); rec.Status != "canceled" {
		t.Fatalf("run = %+v", rec)
	}
}
