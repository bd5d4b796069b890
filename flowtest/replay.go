package flowtest

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
)

// Replay replays a golden file on a new harness for def (see
// [Harness.Replay]) and returns the ended run.
func Replay(t testing.TB, def *flows.Definition, goldenPath string, params any) *mob.Run {
	t.Helper()
	return New(t, def, Config{}).Replay(goldenPath, params)
}

// Replay reruns the run recorded in a golden file ([Record],
// [Harness.Golden]) without runtimes, and checks that it journals the
// same events. It spawns the recorded roster (members the harness lacks),
// scripts the members with the recorded answers (the outputs, usage and
// failures of the step_target_completed and step_target_failed events,
// matched by frame, step, member and attempt; a recorded timeout is an
// answer that never comes; the supervisor's escalation reply), and starts
// the recorded flow: the definition's flow of that id when def has one
// (so a changed flow shows up as a diff), else the recorded spec (a Go
// DSL flow). params nil means the recorded params.
//
// While the run goes, Replay repeats what happened from outside: a step
// that awaits approval gets the decision recorded for it, the recorded
// cancellation is made once the run has journalled what came before it, and the fake clock moves to the next timer whenever the
// run idles. Once the run has ended, its golden form must equal the file;
// differences are reported as a test error with a line diff. Replay never
// rewrites the file. Scripts added before Replay answer the asks the
// recording has no answer for (as does the default reply).
func (h *Harness) Replay(goldenPath string, params any) *mob.Run {
	h.t.Helper()
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		h.t.Fatalf("flowtest: %v", err)
	}
	rec, err := parseGolden(want)
	if err != nil {
		h.t.Fatalf("flowtest: %s: %v", goldenPath, err)
	}
	for _, g := range rec.roster {
		if h.hasMember(g.Member) {
			continue
		}
		if _, err := h.mob.Spawn(h.ctx, mob.SpawnSpec{Profile: g.Role, Identity: g.Member}); err != nil {
			h.t.Fatalf("flowtest: replay %s: spawn %s (%s): %v", goldenPath, g.Member, g.Role, err)
		}
	}
	h.Script(Match{Func: rec.has}, Func(rec.answer))

	if params == nil {
		params = json.RawMessage(rec.started.Params)
	}
	var run *mob.Run
	if _, ok := h.def.Flow(rec.started.Flow); ok {
		run = h.Run(rec.started.Flow, params)
	} else {
		spec, err := flowFromJSON(h.def, rec.started.Flow, rec.started.Spec)
		if err != nil {
			h.t.Fatalf("flowtest: replay %s: %v", goldenPath, err)
		}
		run = h.RunSpec(spec, params)
	}

	wantLines := splitLines(string(want))
	for range 100000 {
		h.Settle()
		if run.Status().Status.Terminal() {
			break
		}
		got, err := Record(h.ctx, h.mob, run.ID())
		if err != nil {
			h.t.Fatalf("flowtest: replay: %v", err)
		}
		decided := false
		for _, st := range run.Status().Steps {
			if d := rec.decisions[st.Frame+"|"+st.StepID]; st.Status == mob.StepAwaiting && d != nil {
				if err := run.Decide(h.ctx, st.StepID, *d); err != nil {
					h.t.Errorf("flowtest: replay: decide %s: %v", st.StepID, err)
				}
				decided = true
			}
		}
		if decided {
			continue
		}
		if next, ok := nextAfterPrefix(wantLines, splitLines(string(got))); ok {
			var g goldenEvent
			_ = json.Unmarshal([]byte(next), &g)
			if g.Type == mob.EventFlowCanceled && !strings.HasPrefix(g.Reason, "budget exceeded") {
				if err := run.Cancel(h.ctx, g.Reason); err != nil {
					h.t.Errorf("flowtest: replay: cancel: %v", err)
				}
				continue
			}
		}
		at, ok := h.tclock.next()
		if !ok {
			// Diverged, or waits for what the recording does not hold:
			// end it so that the diff shows where.
			_ = run.Cancel(h.ctx, "flowtest: replay stuck: "+h.blocked(run))
			continue
		}
		h.clock.Advance(at.Sub(h.clock.Now()))
	}
	if _, err := h.waitDone(run); err != nil && !run.Status().Status.Terminal() {
		h.t.Fatalf("flowtest: replay: %v", err)
	}
	got, err := Record(h.ctx, h.mob, run.ID())
	if err != nil {
		h.t.Fatalf("flowtest: replay: %v", err)
	}
	if d := diff(string(want), string(got)); d != "" {
		h.t.Errorf("flowtest: replay of %s differs (-recorded +replayed):\n%s", goldenPath, d)
	}
	return run
}

// nextAfterPrefix returns the line of want after got, when got is a
// prefix of want; the flow_started lines may differ (in the flow's spec,
// when it changed since the recording).
func nextAfterPrefix(want, got []string) (string, bool) {
	if len(got) >= len(want) {
		return "", false
	}
	const started = `{"type":"` + mob.EventFlowStarted + `"`
	for i := range got {
		if got[i] != want[i] && !(strings.HasPrefix(got[i], started) && strings.HasPrefix(want[i], started)) {
			return "", false
		}
	}
	return want[len(got)], true
}

func (h *Harness) hasMember(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.members[id]
	return m != nil && !m.retired
}

// recording is a parsed golden file.
type recording struct {
	roster     []goldenEvent
	started    goldenEvent
	targets    map[string]goldenEvent // "frame|step/member/attempt" → its result
	dispatched map[string]bool
	escalation *goldenEvent
	decisions  map[string]*flows.ApprovalDecision // frame|step → a human decision
}

func parseGolden(data []byte) (*recording, error) {
	rec := &recording{targets: map[string]goldenEvent{}, dispatched: map[string]bool{}, decisions: map[string]*flows.ApprovalDecision{}}
	for i, line := range splitLines(string(data)) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var g goldenEvent
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&g); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		switch g.Type {
		case mob.EventMemberSpawned:
			if rec.started.Type == "" {
				rec.roster = append(rec.roster, g)
			}
		case mob.EventFlowStarted:
			rec.started = g
		case mob.EventStepDispatched:
			rec.dispatched[targetKey(g.Frame, g.Step, g.Member, g.Attempt)] = true
		case mob.EventStepTargetCompleted, mob.EventStepTargetFailed:
			rec.targets[targetKey(g.Frame, g.Step, g.Member, g.Attempt)] = g
		case mob.EventApprovalDecided:
			if g.Decision != nil && g.Decision.By != "timeout" {
				rec.decisions[g.Frame+"|"+g.Step] = g.Decision
			}
		case mob.EventSupervisorEscalation, mob.EventSupervisorEscalationFailed:
			if rec.escalation == nil {
				e := g
				rec.escalation = &e
			}
		}
	}
	if rec.started.Type == "" {
		return nil, fmt.Errorf("no %s event", mob.EventFlowStarted)
	}
	return rec, nil
}

func targetKey(frame, step, member string, attempt int) string {
	return frame + "|" + step + "/" + member + "/" + strconv.Itoa(attempt)
}

// has reports whether the recording answers c.
func (rec *recording) has(c Call) bool {
	if c.Escalation {
		return rec.escalation != nil
	}
	return rec.dispatched[targetKey(c.Frame, c.Step, c.Member, c.Attempt)]
}

// answer is the recorded answer to c.
func (rec *recording) answer(c Call) Reply {
	if c.Escalation {
		e := rec.escalation
		switch {
		case e.Type == mob.EventSupervisorEscalation:
			return Text(e.Text)
		case e.Error == "escalation turn timed out":
			return Never()
		}
		return Fail(actors.CodeOther, e.Error)
	}
	g, ok := rec.targets[targetKey(c.Frame, c.Step, c.Member, c.Attempt)]
	if !ok {
		return Never() // dispatched, never answered: the run ended first
	}
	var r Reply
	if g.Type == mob.EventStepTargetCompleted {
		switch {
		case len(c.OutputSchema) > 0:
			r = Reply{Output: g.Output, Text: string(g.Output)}
		default:
			var s string
			if err := json.Unmarshal(g.Output, &s); err == nil {
				r = Text(s)
			} else {
				r = Text(string(g.Output))
			}
		}
	} else {
		r = failureReply(g)
	}
	if g.Usage != nil {
		r.Usage = *g.Usage
	}
	return r
}

// failureReply is the answer that makes the executor record failure g.
func failureReply(g goldenEvent) Reply {
	switch flows.FailureClass(g.Class) {
	case flows.FailureTimeout:
		return Never()
	case flows.FailureOutput:
		switch {
		case len(g.Output) > 0:
			return Reply{Output: g.Output, Text: string(g.Output)}
		case strings.HasPrefix(g.Error, "structured output: "):
			return Reply{ExtractionError: strings.TrimPrefix(g.Error, "structured output: ")}
		case g.Error == "no structured output":
			return Reply{}
		}
		return Fail("remote:OUTPUT_ERROR", g.Error)
	case flows.FailureRuntime:
		return Fail(actors.CodeTurnLost, g.Error)
	case flows.FailureProvider:
		return Fail("remote:PROVIDER_ERROR", g.Error)
	case flows.FailureTool:
		return Fail("remote:TOOL_ERROR", g.Error)
	}
	if g.Class == "canceled" {
		return Fail(actors.CodeCanceled, g.Error)
	}
	return Fail(actors.CodeOther, g.Error)
}

// flowFromJSON loads a flow's JSON (as flow_started journals it) in the
// context of def, whose profiles and schemas it may use.
func flowFromJSON(def *flows.Definition, flowID string, spec json.RawMessage) (flows.FlowSpec, error) {
	f, err := def.LoadFlowJSON(flowID, spec)
	if err != nil {
		return flows.FlowSpec{}, fmt.Errorf("recorded flow %q: %w", flowID, err)
	}
	return f, nil
}
