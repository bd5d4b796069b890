package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/rpc/rpctest"
	"github.com/mobd-dev/mobd/sim"
)

func startSim(t *testing.T, opts rpc.Options) *rpc.Client {
	t.Helper()
	return rpctest.Start(t, sim.Options{}, opts).Client
}

// newSession creates a session on c with the prompt "hi", failing t if
// that fails.
func newSession(t *testing.T, ctx context.Context, c *rpc.Client) *rpc.Session {
	t.Helper()
	s, err := c.CreateSession(ctx, rpc.Text("hi"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCapabilitiesAndHandshake(t *testing.T) {
	c := startSim(t, rpc.Options{})
	if c.ContractVersion() != rpc.ContractVersion {
		t.Fatalf("contract = %q", c.ContractVersion())
	}
	if !c.HasMethod("session/create") || !c.HasCapability("mob") {
		t.Fatal("sim must list session/create and mob methods")
	}
	statuses := map[string]bool{}
	for _, cp := range c.Capabilities() {
		statuses[cp.Status] = true
		if cp.ID == "" || cp.Description == "" {
			t.Fatalf("capability %+v lacks id or description", cp)
		}
	}
	for _, s := range []string{"Available", "DisabledByPolicy", "NotCompiled"} {
		if !statuses[s] {
			t.Errorf("no capability with normalised status %s: %v", s, statuses)
		}
	}
	if !c.HasCapability("sessions") || c.HasCapability("shell") {
		t.Fatal("sessions must be available and shell disabled by policy")
	}
	if err := c.RequireCapability("shell"); !errors.Is(err, rpc.ErrCapabilityUnavailable) {
		t.Fatalf("RequireCapability(shell) = %v", err)
	}
}

func TestSessionLifecycle(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	s, err := c.CreateSession(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{
		Model: "claude-sonnet-4-6", Labels: map[string]string{"team": "red"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Text(), "Paris") || s.Turns() != 1 || s.Usage().OutputTokens == 0 || s.ID() == "" {
		t.Fatalf("first turn: text=%q turns=%d usage=%+v", s.Text(), s.Turns(), s.Usage())
	}
	res, err := s.Turn(ctx, rpc.Text("What about Germany?"), rpc.TurnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "Berlin") || s.LastResult() != res {
		t.Fatalf("second turn: %q", res.Text)
	}

	h, err := s.History(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.MessageCount < 4 || len(h.Messages) != int(h.MessageCount) {
		t.Fatalf("history: count=%d rows=%d", h.MessageCount, len(h.Messages))
	}
	var assistant []string
	for _, m := range h.Messages {
		if m.Role == "block_assistant" {
			assistant = append(assistant, m.AssistantText())
		}
	}
	if len(assistant) != 2 || !strings.Contains(assistant[1], "Berlin") {
		t.Fatalf("assistant rows = %q", assistant)
	}
	page, err := s.History(ctx, 1, 2)
	if err != nil || len(page.Messages) != 2 || !page.HasMore {
		t.Fatalf("history page = %+v, %v", page, err)
	}

	d, err := s.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.SessionID != s.ID() || d.Labels["team"] != "red" || d.Model != "claude-sonnet-4-6" {
		t.Fatalf("read = %+v", d)
	}

	other, err := c.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.ListSessions(ctx, rpc.ListSessionsOptions{})
	if err != nil || len(all) != 2 {
		t.Fatalf("list = %v, %v", all, err)
	}
	red, err := c.ListSessions(ctx, rpc.ListSessionsOptions{Labels: map[string]string{"team": "red"}})
	if err != nil || len(red) != 1 || red[0].SessionID != s.ID() {
		t.Fatalf("list by label = %+v, %v", red, err)
	}

	if err := other.Archive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Read(ctx); !errors.Is(err, rpc.ErrSessionNotFound) {
		t.Fatalf("read after archive = %v, want ErrSessionNotFound", err)
	}
	if _, err := other.Turn(ctx, rpc.Text("again"), rpc.TurnOptions{}); !errors.Is(err, rpc.ErrSessionNotFound) {
		t.Fatalf("turn after archive = %v", err)
	}
}

func TestStreamingTurns(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)

	st := c.CreateSessionStreaming(ctx, rpc.Text("count to 20"), rpc.SessionOptions{})
	if _, err := st.Result(); !errors.Is(err, rpc.ErrStreamNotConsumed) {
		t.Fatalf("Result before consuming = %v", err)
	}
	var types []string
	var text strings.Builder
	for ev, err := range st.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.EventType())
		if d, ok := ev.(*rpc.TextDelta); ok {
			text.WriteString(d.Delta)
		}
		if e := st.Envelope(); e.EventID == "" || e.Source.SessionID == "" || e.Seq == 0 {
			t.Fatalf("envelope metadata missing: %+v", e)
		}
	}
	res, err := st.Result()
	if err != nil {
		t.Fatal(err)
	}
	if text.String() != res.Text || res.Text == "" {
		t.Fatalf("deltas %q != result %q", text.String(), res.Text)
	}
	want := []string{"run_started", "turn_started", "text_delta"}
	if strings.Join(types[:3], ",") != strings.Join(want, ",") || types[len(types)-1] != "run_completed" {
		t.Fatalf("event order = %v", types)
	}
	sess := st.Session()
	if sess == nil || sess.ID() != st.SessionID() || sess.Text() != res.Text {
		t.Fatal("streamed create did not yield its session")
	}

	// Collect and CollectText on later turns.
	res2, err := sess.Stream(ctx, rpc.Text("echo: second"), rpc.TurnOptions{}).Collect()
	if err != nil || res2.Text != "second" {
		t.Fatalf("Collect = %+v, %v", res2, err)
	}
	txt, res3, err := sess.Stream(ctx, rpc.Text("echo: third"), rpc.TurnOptions{}).CollectText()
	if err != nil || txt != "third" || res3.Text != "third" || sess.Text() != "third" {
		t.Fatalf("CollectText = %q %+v %v", txt, res3, err)
	}

	// A turn's late event (after its response) stays with that turn.
	late := sess.Stream(ctx, rpc.Text("echo: late [[sim:late_event]]"), rpc.TurnOptions{})
	lt, _, err := late.CollectText()
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := sess.Stream(ctx, rpc.Text("echo: clean"), rpc.TurnOptions{}).CollectText()
	if err != nil || next != "clean" {
		t.Fatalf("turn after a late event got %q (late turn had %q), %v", next, lt, err)
	}

	// Unknown and malformed events never end the stream.
	var unknown int
	st4 := sess.Stream(ctx, rpc.Text("echo: odd [[sim:unknown_event]] [[sim:orphan_event]]"), rpc.TurnOptions{})
	for st4.Next() {
		if u, ok := st4.Current().(*rpc.UnknownEvent); ok {
			unknown++
			if len(u.Raw) == 0 {
				t.Fatal("UnknownEvent without raw JSON")
			}
		}
	}
	if err := st4.Err(); err != nil || unknown != 2 {
		t.Fatalf("unknown events = %d, err = %v", unknown, err)
	}

	// Strict mode fails closed on an unknown event type.
	strict := startSim(t, rpc.Options{StrictEvents: true})
	st5 := strict.CreateSessionStreaming(ctx, rpc.Text("echo: x [[sim:unknown_event]]"), rpc.SessionOptions{})
	if _, err := st5.Collect(); !errors.Is(err, rpc.ErrUnknownEventType) {
		t.Fatalf("strict stream = %v, want ErrUnknownEventType", err)
	}
}

func TestStreamErrorsAndBreak(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	st := s.Stream(ctx, rpc.Text("x [[sim:error -32011 budget gone]]"), rpc.TurnOptions{})
	var last error
	for _, err := range st.All() {
		last = err
	}
	if !errors.Is(last, rpc.ErrBudgetExhausted) {
		t.Fatalf("stream error = %v", last)
	}
	// Breaking out of a stream closes it; the turn runs on, and Wait
	// still returns its result. Then the session takes the next turn.
	broken := s.Stream(ctx, rpc.Text("count to 50"), rpc.TurnOptions{})
	for range broken.All() {
		break
	}
	if res, err := broken.Wait(ctx); err != nil || !strings.Contains(res.Text, "50") {
		t.Fatalf("Wait after break = %+v, %v", res, err)
	}
	if _, err := s.Turn(ctx, rpc.Text("echo: after"), rpc.TurnOptions{}); err != nil {
		t.Fatalf("turn after a broken-off stream: %v", err)
	}
}

func TestDeferredSession(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	d, err := c.CreateDeferredSession(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID() == "" || d.LastResult() != nil {
		t.Fatal("deferred session ran a turn")
	}
	det, err := d.Read(ctx)
	if err != nil || det.MessageCount != 0 {
		t.Fatalf("deferred read = %+v, %v", det, err)
	}
	res, err := d.StartTurn(ctx, rpc.TurnOptions{})
	if err != nil || !strings.Contains(res.Text, "Paris") {
		t.Fatalf("StartTurn = %+v, %v", res, err)
	}
	d2, err := c.CreateDeferredSession(ctx, rpc.Text("echo: streamed"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	txt, _, err := d2.StartTurnStream(ctx, rpc.TurnOptions{}).CollectText()
	if err != nil || txt != "streamed" {
		t.Fatalf("StartTurnStream = %q, %v", txt, err)
	}
}

func TestInterruptAndBusy(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	idle, err := s.Interrupt(ctx)
	if err != nil || idle.Interrupted || idle.Result != "staged_noop" {
		t.Fatalf("idle interrupt = %+v, %v", idle, err)
	}
	st := s.Stream(ctx, rpc.Text("count to 500 [[sim:slow 20ms]]"), rpc.TurnOptions{})
	if !st.Next() { // the turn is running
		t.Fatalf("no first event: %v", st.Err())
	}
	if _, err := s.Turn(ctx, rpc.Text("again"), rpc.TurnOptions{}); !errors.Is(err, rpc.ErrSessionBusy) {
		t.Fatalf("second turn while one runs = %v, want ErrSessionBusy", err)
	}
	ir, err := s.Interrupt(ctx)
	if err != nil || !ir.Interrupted || ir.Result != "interrupted" || ir.SessionID != s.ID() {
		t.Fatalf("interrupt = %+v, %v", ir, err)
	}
	var stop string
	for st.Next() {
		if tc, ok := st.Current().(*rpc.TurnCompleted); ok {
			stop = tc.StopReason
		}
	}
	res, err := st.Result()
	if err != nil || stop != "cancelled" || len(res.Text) >= len("1, 2, 3")*100 {
		t.Fatalf("interrupted turn: stop=%q res=%+v err=%v", stop, res, err)
	}

	// The interrupt_error variant answers REQUEST_CANCELLED.
	st2 := s.Stream(ctx, rpc.Text("count to 500 [[sim:slow 20ms]] [[sim:interrupt_error]]"), rpc.TurnOptions{})
	st2.Next()
	if _, err := s.Interrupt(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st2.Collect(); !errors.Is(err, rpc.ErrRequestCancelled) {
		t.Fatalf("interrupt_error turn = %v", err)
	}
}

func TestStructuredOutputAndMultimodal(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"country":{"type":"string"},"population":{"type":"integer"}},"required":["city","country","population"]}`)
	s, err := c.CreateSession(ctx, rpc.Text("Give me information about Tokyo."), rpc.SessionOptions{OutputSchema: schema})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		City       string `json:"city"`
		Country    string `json:"country"`
		Population *int   `json:"population"`
	}
	if err := s.LastResult().DecodeStructuredOutput(&out); err != nil || out.City == "" || out.Population == nil {
		t.Fatalf("structured output %s: %+v %v", s.StructuredOutput(), out, err)
	}
	res, err := s.Turn(ctx, rpc.Text("again [[sim:extraction_fail]]"), rpc.TurnOptions{OutputSchema: schema})
	if err != nil || res.ExtractionError == nil || res.StructuredOutput != nil {
		t.Fatalf("extraction failure = %+v, %v", res, err)
	}

	img := rpc.ImageBlock("image/png", "iVBORw0KGgo=")
	m, err := c.CreateSession(ctx, rpc.Blocks(rpc.TextBlock("What is in these?"), img,
		rpc.VideoURIBlock("video/mp4", 4000, "https://example.invalid/v.mp4")), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text(), "1 image") || !strings.Contains(m.Text(), "1 video") {
		t.Fatalf("multimodal reply = %q", m.Text())
	}
}

func TestCallbackTools(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	echo := rpc.Tool{
		Name:        "lookup",
		Description: "Look a key up",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"key":{"type":"string"}}}`),
		Handler: func(ctx context.Context, args json.RawMessage) (rpc.ToolResult, error) {
			var in struct{ Key string }
			if err := json.Unmarshal(args, &in); err != nil {
				return rpc.ToolResult{}, err
			}
			mu.Lock()
			calls[in.Key]++
			mu.Unlock()
			return rpc.ToolResult{Blocks: []rpc.Block{rpc.TextBlock("value-of-" + in.Key)}}, nil
		},
	}
	broken := rpc.Tool{Name: "broken", Handler: func(context.Context, json.RawMessage) (rpc.ToolResult, error) {
		return rpc.ToolResult{}, errors.New("disk on fire")
	}}
	c := startSim(t, rpc.Options{Tools: []rpc.Tool{echo}})
	ctx := testCtx(t)
	if err := c.RegisterTools(ctx, broken); err != nil {
		t.Fatal(err)
	}

	// Many sessions call tools at once; handlers run concurrently.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("k%d", i)
			s, err := c.CreateSession(ctx, rpc.Text(fmt.Sprintf(`look it up [[sim:tool lookup {"key":%q}]]`, key)), rpc.SessionOptions{})
			if err != nil {
				errs <- err
				return
			}
			if s.ToolCalls() != 1 || s.Turns() != 2 || !strings.Contains(s.Text(), "value-of-"+key) {
				errs <- fmt.Errorf("session %d: tool_calls=%d turns=%d text=%q", i, s.ToolCalls(), s.Turns(), s.Text())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(calls) != 8 {
		t.Fatalf("handler calls = %v", calls)
	}

	st := c.CreateSessionStreaming(ctx, rpc.Text(`[[sim:tool broken {}]] [[sim:tool nosuch {}]]`), rpc.SessionOptions{})
	var results []*rpc.ToolExecutionCompleted
	for ev, err := range st.All() {
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := ev.(*rpc.ToolExecutionCompleted); ok {
			results = append(results, r)
		}
	}
	if len(results) != 2 || !results[0].IsError || !results[1].IsError {
		t.Fatalf("tool results = %+v", results)
	}
	if !strings.Contains(results[0].Content.Text(), "disk on fire") {
		t.Fatalf("handler error not reported to the model: %+v", results[0].Content)
	}
}

func TestConfigAndSkills(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	env, err := c.GetConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gen := env.Generation
	set, err := c.SetConfig(ctx, map[string]any{"max_tokens": 1024, "agent": map[string]any{"model": "m1"}}, &gen)
	if err != nil || set.Generation != gen+1 {
		t.Fatalf("set = %+v, %v", set, err)
	}
	stale := gen
	if _, err := c.PatchConfig(ctx, map[string]any{"max_tokens": 1}, &stale); !errors.Is(err, rpc.ErrInvalidParams) || !strings.Contains(err.Error(), "Generation conflict") {
		t.Fatalf("stale patch = %v, want a generation conflict", err)
	}
	patched, err := c.PatchConfig(ctx, map[string]any{"max_tokens": 2048, "agent": map[string]any{"model": nil}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	_ = json.Unmarshal(patched.Config, &cfg)
	if cfg["max_tokens"] != float64(2048) || cfg["agent"].(map[string]any)["model"] != nil {
		t.Fatalf("merge patch result = %v", cfg)
	}

	skills, err := c.ListSkills(ctx)
	if err != nil || len(skills) == 0 {
		t.Fatalf("skills = %v, %v", skills, err)
	}
	s, err := c.CreateSession(ctx, rpc.Text("hi"), rpc.SessionOptions{PreloadSkills: []rpc.SkillKey{skills[0].Key}})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stream(ctx, rpc.Text("review this"), rpc.TurnOptions{SkillRefs: []rpc.SkillKey{skills[0].Key}})
	var resolved bool
	for ev, err := range st.All() {
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.(*rpc.SkillsResolved); ok {
			resolved = true
		}
	}
	if !resolved {
		t.Fatal("no skills_resolved event")
	}
	res, err := s.InvokeSkill(ctx, skills[0].Key, rpc.Text("review again"))
	if err != nil || !strings.Contains(res.Text, skills[0].Key.SkillName) {
		t.Fatalf("InvokeSkill = %+v, %v", res, err)
	}
}

func TestCommsAndSubscriptions(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	a, err := c.CreateSession(ctx, rpc.Text("hi"), rpc.SessionOptions{CommsName: "alice", KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateSession(ctx, rpc.Text("hi"), rpc.SessionOptions{CommsName: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := a.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "bob") {
		t.Fatalf("alice's peers = %v", names)
	}

	sub, err := b.SubscribeEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := a.Send(ctx, rpc.CommsMessage{Kind: "peer_message", To: "bob", Body: "ping"})
	if err != nil || sent.Kind != "peer_message_sent" {
		t.Fatalf("send = %+v, %v", sent, err)
	}
	in, err := a.Send(ctx, rpc.CommsMessage{Kind: "input", Body: "from outside", Source: "rpc"})
	if err != nil || in.Kind != "input_accepted" {
		t.Fatalf("input = %+v, %v", in, err)
	}
	if raw, err := a.InputStatus(ctx, "input_id", in.InteractionID); err != nil || len(raw) == 0 {
		t.Fatalf("input status = %s, %v", raw, err)
	}

	if _, err := b.Turn(ctx, rpc.Text("echo: watched"), rpc.TurnOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var types []string
	for env, err := range sub.All() {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Event.EventType())
	}
	joined := strings.Join(types, ",")
	if !strings.Contains(joined, "run_started") || !strings.Contains(joined, "run_completed") {
		t.Fatalf("subscription saw %v", types)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestRuntimeMobs(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	def := json.RawMessage(`{"id":"triage","orchestrator":{"profile":"lead"},
	  "profiles":{"lead":{"model":"m"},"analyst":{"model":"m","runtime_mode":"turn_driven"}},
	  "flows":{"review":{"steps":{"scan":{"role":"lead","message":"Pick {{ params.topic }}"},
	    "dig":{"role":"analyst","message":"Investigate","depends_on":["scan"]}}}}}`)
	m, err := c.CreateMob(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateMob(ctx, json.RawMessage(`{"id":"bad","profiles":{},"surprise":1}`)); err == nil {
		t.Fatal("a definition with an unknown key was accepted")
	}
	mobs, err := c.ListMobs(ctx)
	if err != nil || len(mobs) != 1 || mobs[0].MobID != "triage" {
		t.Fatalf("list = %+v, %v", mobs, err)
	}
	sub, err := m.SubscribeEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.SpawnMany(ctx, []rpc.SpawnSpec{{Profile: "lead", AgentIdentity: "lead-1"}, {Profile: "analyst", AgentIdentity: "an-1"}, {Profile: "ghost", AgentIdentity: "g"}})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Spawned == nil || out[1].Spawned == nil || out[2].Cause == "" {
		t.Fatalf("spawn_many = %+v", out)
	}
	if _, err := m.Spawn(ctx, rpc.SpawnSpec{Profile: "analyst", AgentIdentity: "an-2"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Wire(ctx, "lead-1", "an-1"); err != nil {
		t.Fatal(err)
	}
	members, err := m.Members(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members = %+v, %v", members, err)
	}
	if err := m.Unwire(ctx, "lead-1", "an-1"); err != nil {
		t.Fatal(err)
	}
	if r, err := m.Member("an-1").Send(ctx, rpc.Text("work"), ""); err != nil || r.HandlingMode != "queue" {
		t.Fatalf("member send = %+v, %v", r, err)
	}
	flows, err := m.Flows(ctx)
	if err != nil || len(flows) != 1 || flows[0] != "review" {
		t.Fatalf("flows = %v, %v", flows, err)
	}
	runID, err := m.RunFlow(ctx, "review", map[string]any{"topic": "CI"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := m.FlowStatus(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if run != nil && run.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow run stuck: %+v", run)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := m.CancelFlow(ctx, runID); err != nil && !errors.As(err, new(*rpc.Error)) {
		t.Fatal(err)
	}
	if none, err := m.FlowStatus(ctx, "no-such-run"); err == nil && none != nil {
		t.Fatalf("unknown run = %+v", none)
	}
	if _, err := m.Respawn(ctx, "an-2", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Retire(ctx, "an-2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Lifecycle(ctx, rpc.MobStop); err != nil {
		t.Fatal(err)
	}
	if st, err := m.Status(ctx); err != nil || st != "Stopped" {
		t.Fatalf("status after stop = %q, %v", st, err)
	}
	if err := m.Lifecycle(ctx, "explode"); !errors.Is(err, rpc.ErrInvalidArgs) {
		t.Fatalf("bad lifecycle action = %v", err)
	}
	memberSub, err := m.SubscribeMemberEvents(ctx, "lead-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := memberSub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for ev, err := range sub.All() {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Identity == "" {
			t.Fatalf("attributed event without identity: %+v", ev)
		}
		kinds[ev.Envelope.Event.EventType()] = true
	}
	if len(kinds) == 0 {
		t.Fatal("mob subscription saw no events")
	}
}

func TestRemoteErrorsFromSim(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	for code, sentinel := range map[int]error{
		-32010: rpc.ErrProviderError, -32011: rpc.ErrBudgetExhausted, -32012: rpc.ErrHookDenied,
		-32013: rpc.ErrAgentError, -32021: rpc.ErrSkillNotFound, -32026: rpc.ErrHostUnavailable,
	} {
		_, err := c.CreateSession(ctx, rpc.Text(fmt.Sprintf("x [[sim:error %d simulated]]", code)), rpc.SessionOptions{})
		if !errors.Is(err, sentinel) {
			t.Errorf("code %d: %v does not match its sentinel", code, err)
		}
	}
	_, err := c.CreateSession(ctx, rpc.Text(`x [[sim:error -32027 {"code":"STALE_CURSOR","message":"old","details":{"watermark":5}}]]`), rpc.SessionOptions{})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeStaleCursor || string(re.Details) != `{"watermark":5}` || re.Message != "old" {
		t.Fatalf("typed data error = %#v", err)
	}
	if err := c.Call(ctx, "no/such_method", nil, nil); !errors.Is(err, rpc.ErrMethodNotFound) {
		t.Fatalf("unknown method = %v", err)
	}
	if _, err := c.ReadSession(ctx, "0192a6c4-0000-7000-8000-00000000dead"); !errors.Is(err, rpc.ErrSessionNotFound) {
		t.Fatalf("unknown session = %v", err)
	}
}

func TestStreamOverflowPolicies(t *testing.T) {
	ctx := testCtx(t)
	// Fail: a consumer that stops reading gets an overflow error, the
	// connection and the turn carry on, and the result is still there.
	c := startSim(t, rpc.Options{StreamBuffer: 64, Overflow: rpc.OverflowFail})
	s := newSession(t, ctx, c)
	st := s.Stream(ctx, rpc.Text("[[sim:tokens 5000]]"), rpc.TurnOptions{})
	if _, err := st.Wait(ctx); err != nil {
		t.Fatalf("turn under overflow: %v", err)
	}
	st2 := s.Stream(ctx, rpc.Text("[[sim:tokens 5000]]"), rpc.TurnOptions{})
	time.Sleep(200 * time.Millisecond) // let the buffer overflow before reading
	n := 0
	for st2.Next() {
		n++
	}
	if !errors.Is(st2.Err(), rpc.ErrStreamOverflow) {
		t.Fatalf("err = %v after %d events, want ErrStreamOverflow", st2.Err(), n)
	}
	if n > 64 {
		t.Fatalf("%d events buffered with a 64-event buffer", n)
	}
	if res, err := st2.Wait(ctx); err != nil || res == nil {
		t.Fatalf("result after overflow = %v, %v", res, err)
	}
	if _, err := s.Turn(ctx, rpc.Text("echo: still fine"), rpc.TurnOptions{}); err != nil {
		t.Fatal(err)
	}

	// Block: a slow consumer loses nothing.
	cb := startSim(t, rpc.Options{StreamBuffer: 16, Overflow: rpc.OverflowBlock})
	sb := newSession(t, ctx, cb)
	st3 := sb.Stream(ctx, rpc.Text("[[sim:tokens 3000]]"), rpc.TurnOptions{})
	deltas := 0
	for st3.Next() {
		if _, ok := st3.Current().(*rpc.TextDelta); ok {
			deltas++
			if deltas%500 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	if st3.Err() != nil || deltas != 3000 {
		t.Fatalf("blocked stream got %d deltas, err %v", deltas, st3.Err())
	}
}

func TestCloseIsIdempotentAndFailsPending(t *testing.T) {
	c := startSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	st := s.Stream(ctx, rpc.Text("count to 1000 [[sim:slow 10ms]]"), rpc.TurnOptions{})
	st.Next()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close() }()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	for st.Next() {
	}
	if !errors.Is(st.Err(), rpc.ErrClientClosed) {
		t.Fatalf("stream after Close = %v", st.Err())
	}
	if _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); !errors.Is(err, rpc.ErrClientClosed) {
		t.Fatalf("call after Close = %v", err)
	}
}

// TestToolHandlersMayCallTheClient runs more tool calls than handler slots,
// each handler making a nested call on the same client: the reader must
// keep reading while handlers wait for a slot.
func TestToolHandlersMayCallTheClient(t *testing.T) {
	var c *rpc.Client
	nested := rpc.Tool{Name: "count_sessions", Handler: func(ctx context.Context, _ json.RawMessage) (rpc.ToolResult, error) {
		list, err := c.ListSessions(ctx, rpc.ListSessionsOptions{})
		if err != nil {
			return rpc.ToolResult{}, err
		}
		return rpc.TextResult(fmt.Sprintf("%d sessions", len(list))), nil
	}}
	c = startSim(t, rpc.Options{Tools: []rpc.Tool{nested}, MaxConcurrentCallbacks: 1})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.CreateSession(ctx, rpc.Text("use count_sessions"), rpc.SessionOptions{})
			if err == nil && s.ToolCalls() != 1 {
				err = fmt.Errorf("tool calls = %d", s.ToolCalls())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestStreamCtxEndFreesTheReader checks that a stream whose ctx ended, and
// that its consumer then leaves without Close (as Collect does), stops
// taking events: with a small blocking buffer, its turn's further events
// would otherwise fill it and stall the connection's reader, and every
// other call on the client with it.
func TestStreamCtxEndFreesTheReader(t *testing.T) {
	ctx := testCtx(t)
	c := startSim(t, rpc.Options{StreamBuffer: 16, Overflow: rpc.OverflowBlock})
	s := newSession(t, ctx, c)
	other := newSession(t, ctx, c)
	short, cancel := context.WithCancel(ctx)
	st := s.Stream(short, rpc.Text("[[sim:tokens 5000]]"), rpc.TurnOptions{})
	if !st.Next() {
		t.Fatalf("no first event: %v", st.Err())
	}
	cancel()
	if _, err := st.Collect(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Collect after the ctx ended: %v", err)
	}
	// No Close: the other session's turn must still get through.
	turnCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if _, err := other.Turn(turnCtx, rpc.Text("echo: through"), rpc.TurnOptions{}); err != nil {
		t.Fatalf("a turn on the same client after an abandoned stream: %v", err)
	}
}

// TestSubscriptionCtxEndFreesTheReader is TestStreamCtxEndFreesTheReader
// for a standalone subscription left without Close.
func TestSubscriptionCtxEndFreesTheReader(t *testing.T) {
	ctx := testCtx(t)
	c := startSim(t, rpc.Options{StreamBuffer: 16, Overflow: rpc.OverflowBlock})
	s := newSession(t, ctx, c)
	other := newSession(t, ctx, c)
	short, cancel := context.WithCancel(ctx)
	sub, err := s.SubscribeEvents(short)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if sub.Next() {
		t.Fatal("Next after the ctx ended")
	}
	// The subscribed session streams a long turn nobody reads but Wait.
	if _, err := s.Stream(ctx, rpc.Text("[[sim:tokens 3000]]"), rpc.TurnOptions{}).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	turnCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if _, err := other.Turn(turnCtx, rpc.Text("echo: through"), rpc.TurnOptions{}); err != nil {
		t.Fatalf("a turn on the same client after an abandoned subscription: %v", err)
	}
	if err := sub.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
