package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Flow run states.
const (
	runRunning   = "running"
	runCompleted = "completed"
	runFailed    = "failed"
	runCanceled  = "canceled"
)

// defaultStepTimeout is the per-step deadline when a step sets none.
const defaultStepTimeout = 30 * time.Second

// flowRun is the stored record of one flow run.
type flowRun struct {
	RunID         string            `json:"run_id"`
	MobID         string            `json:"mob_id"`
	FlowID        string            `json:"flow_id"`
	Status        string            `json:"status"`
	Params        json.RawMessage   `json:"params"`
	CreatedAt     string            `json:"created_at"`
	UpdatedAt     string            `json:"updated_at"`
	CompletedAt   *string           `json:"completed_at"`
	StepLedger    []stepLedgerEntry `json:"step_ledger"`
	FailureLedger []failureEntry    `json:"failure_ledger"`
	Output        json.RawMessage   `json:"output"`
}

type stepLedgerEntry struct {
	StepID        string          `json:"step_id"`
	AgentIdentity *string         `json:"agent_identity"`
	Status        string          `json:"status"`
	Output        json.RawMessage `json:"output"`
	Timestamp     string          `json:"timestamp"`
}

type failureEntry struct {
	StepID    string `json:"step_id"`
	Reason    string `json:"reason"`
	Timestamp string `json:"timestamp"`
}

// stepOutcome is what a finished step produced.
type stepOutcome struct {
	status string
	output any
}

func (s *server) handleMobFlows(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	ids := make([]string, 0, len(m.def.Flows))
	for id := range m.def.Flows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return struct {
		MobID string   `json:"mob_id"`
		Flows []string `json:"flows"`
	}{m.id, ids}, nil
}

type runIDResult struct {
	RunID string `json:"run_id"`
}

func (s *server) handleMobFlowRun(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		FlowID *string         `json:"flow_id"`
		Params json.RawMessage `json:"params"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.FlowID == nil {
		return nil, invalidParams("Invalid params: missing field `flow_id`")
	}
	id, rerr := s.startFlow(m, *p.FlowID, p.Params)
	if rerr != nil {
		return nil, rerr
	}
	return runIDResult{id}, nil
}

func (s *server) handleMobRun(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		FlowID *string         `json:"flow_id"`
		Params json.RawMessage `json:"params"`
		Prompt *string         `json:"prompt"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	flowID := "main"
	if p.FlowID != nil && *p.FlowID != "" {
		flowID = *p.FlowID
	}
	params := p.Params
	if p.Prompt != nil {
		obj := map[string]json.RawMessage{}
		switch jsonKind(params) {
		case "", "null":
		case "object":
			_ = json.Unmarshal(params, &obj)
		default:
			return nil, invalidParams("Invalid params: params must be an object when prompt is given")
		}
		obj["prompt"] = jsonString(*p.Prompt)
		params = mustMarshal(obj)
	}
	id, rerr := s.startFlow(m, flowID, params)
	if rerr != nil {
		return nil, rerr
	}
	return runIDResult{id}, nil
}

// startFlow records a new run and executes it in the background.
func (s *server) startFlow(m *mob, flowID string, params json.RawMessage) (string, *rpcError) {
	steps, ok := m.def.Flows[flowID]
	if !ok {
		return "", invalidParams("Flow not found: %s", flowID)
	}
	if rerr := requireRunning(m); rerr != nil {
		return "", rerr
	}
	if len(params) == 0 {
		params = json.RawMessage("null")
	} else if c, err := compactJSON(params); err == nil {
		params = c
	}
	now := rfc3339(nowMS())
	run := &flowRun{RunID: newUUIDv4(), MobID: m.id, FlowID: flowID, Status: runRunning, Params: params,
		CreatedAt: now, UpdatedAt: now, StepLedger: []stepLedgerEntry{}, FailureLedger: []failureEntry{}, Output: json.RawMessage("null")}
	ctx, cancel := context.WithCancelCause(s.bgCtx)
	if m.def.MaxFlowMS > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, time.Duration(m.def.MaxFlowMS)*time.Millisecond, errRequestCancelled)
		prev := cancel
		cancel = func(cause error) { prev(cause); stop() }
	}
	m.mu.Lock()
	m.data.Runs = append(m.data.Runs, run)
	m.runs[run.RunID] = cancel
	m.appendEventLocked(map[string]any{"type": "flow_started", "run_id": run.RunID, "flow_id": flowID, "params": params})
	m.mu.Unlock()
	m.save()
	s.goBackground(func(context.Context) {
		defer func() {
			m.mu.Lock()
			delete(m.runs, run.RunID)
			m.mu.Unlock()
			cancel(nil)
		}()
		s.executeFlow(ctx, m, run, steps)
	})
	return run.RunID, nil
}

// executeFlow runs the steps sequentially in dependency order.
func (s *server) executeFlow(ctx context.Context, m *mob, run *flowRun, steps []*flowStep) {
	params, _ := decodeAny(run.Params)
	outcomes := map[string]*stepOutcome{}
	status, reason := runCompleted, ""
	var lastOutput any
	for _, st := range steps {
		if ctx.Err() != nil {
			status = runCanceled
			break
		}
		if skip, why := dependencySkip(st, outcomes); skip {
			outcomes[st.id] = &stepOutcome{status: "skipped"}
			s.recordStep(m, run, st.id, nil, "skipped", nil, map[string]any{"type": "step_skipped", "run_id": run.RunID, "step_id": st.id, "reason": why})
			continue
		}
		scope := map[string]any{"params": params, "steps": stepScope(outcomes)}
		if !isJSONNull(st.Condition) {
			ok, err := evalCondition(st.Condition, scope)
			if err == nil && !ok {
				outcomes[st.id] = &stepOutcome{status: "skipped"}
				s.recordStep(m, run, st.id, nil, "skipped", nil, map[string]any{"type": "step_skipped", "run_id": run.RunID, "step_id": st.id, "reason": "condition_false"})
				continue
			}
			if err != nil {
				if s.failStep(m, run, st, fmt.Sprintf("condition: %v", err), outcomes) {
					status, reason = runFailed, err.Error()
					break
				}
				continue
			}
		}
		out, err := s.runStep(ctx, m, run, st, scope)
		if err != nil {
			if ctx.Err() != nil {
				status = runCanceled
				break
			}
			if s.failStep(m, run, st, err.Error(), outcomes) {
				status, reason = runFailed, fmt.Sprintf("step %s failed: %v", st.id, err)
				break
			}
			continue
		}
		outcomes[st.id] = &stepOutcome{status: "completed", output: out}
		lastOutput = out
		s.recordStep(m, run, st.id, nil, "", nil, map[string]any{"type": "step_completed", "run_id": run.RunID, "step_id": st.id})
	}
	now := rfc3339(nowMS())
	m.mu.Lock()
	run.Status, run.UpdatedAt, run.CompletedAt = status, now, &now
	if lastOutput != nil {
		run.Output = mustMarshal(lastOutput)
	}
	switch status {
	case runCompleted:
		m.appendEventLocked(map[string]any{"type": "flow_completed", "run_id": run.RunID, "flow_id": run.FlowID})
	case runFailed:
		m.appendEventLocked(map[string]any{"type": "flow_failed", "run_id": run.RunID, "flow_id": run.FlowID, "reason": reason})
	default:
		m.appendEventLocked(map[string]any{"type": "flow_canceled", "run_id": run.RunID, "flow_id": run.FlowID})
	}
	m.mu.Unlock()
	m.save()
}

// dependencySkip decides whether unmet dependencies skip a step.
func dependencySkip(st *flowStep, outcomes map[string]*stepOutcome) (bool, string) {
	if len(st.DependsOn) == 0 {
		return false, ""
	}
	ok := 0
	for _, d := range st.DependsOn {
		if o := outcomes[d]; o != nil && o.status == "completed" {
			ok++
		}
	}
	if st.DependsOnMode == "any" {
		return ok == 0, "no dependency completed"
	}
	return ok < len(st.DependsOn), "a dependency did not complete"
}

// failStep records a step failure; it reports whether the run must fail.
func (s *server) failStep(m *mob, run *flowRun, st *flowStep, reason string, outcomes map[string]*stepOutcome) bool {
	outcomes[st.id] = &stepOutcome{status: "failed"}
	s.recordStep(m, run, st.id, nil, "failed", &failureEntry{StepID: st.id, Reason: reason, Timestamp: rfc3339(nowMS())},
		map[string]any{"type": "step_failed", "run_id": run.RunID, "step_id": st.id, "reason": reason})
	return st.FailurePolicy != "continue"
}

// recordStep appends a ledger entry (when status is set), an optional
// failure and an event, then saves.
func (s *server) recordStep(m *mob, run *flowRun, stepID string, identity *string, status string, failure *failureEntry, event map[string]any) {
	now := rfc3339(nowMS())
	m.mu.Lock()
	if status != "" {
		run.StepLedger = append(run.StepLedger, stepLedgerEntry{StepID: stepID, AgentIdentity: identity, Status: status, Output: json.RawMessage("null"), Timestamp: now})
	}
	if failure != nil {
		run.FailureLedger = append(run.FailureLedger, *failure)
	}
	run.UpdatedAt = now
	m.appendEventLocked(event)
	m.mu.Unlock()
	m.save()
}

// runStep dispatches a step to its targets and returns its output.
func (s *server) runStep(ctx context.Context, m *mob, run *flowRun, st *flowStep, scope map[string]any) (any, error) {
	var targets []memberData
	for _, mem := range m.activeMembers() {
		if mem.Role == st.Role {
			targets = append(targets, mem)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("insufficient targets: no active member with role %s", st.Role)
	}
	if st.DispatchMode == "fan_in" || st.DispatchMode == "one_to_one" {
		targets = targets[:1]
	}
	msg, err := renderMessage(st.Message, scope)
	if err != nil {
		return nil, fmt.Errorf("render message: %w", err)
	}
	prompt, rerr := parseContent(msg, "message")
	if rerr != nil {
		return nil, errors.New(rerr.Message)
	}
	var schema json.RawMessage
	if ref := strings.TrimSpace(st.ExpectedSchemaRef); strings.HasPrefix(ref, "{") {
		if sc, rerr := resolveOutputSchema(json.RawMessage(ref)); rerr == nil {
			schema = sc
		}
	}
	timeout := defaultStepTimeout
	if st.TimeoutMS != nil && *st.TimeoutMS > 0 {
		timeout = time.Duration(*st.TimeoutMS) * time.Millisecond
	}
	var outputs []any
	for _, mem := range targets {
		identity := mem.Identity
		s.recordStep(m, run, st.id, nil, "", nil, map[string]any{"type": "step_dispatched", "run_id": run.RunID, "step_id": st.id, "agent_identity": identity})
		out, err := s.stepTurn(ctx, mem.SessionID, prompt, schema, st.OutputFormat, timeout)
		if err != nil {
			s.recordStep(m, run, st.id, &identity, "failed", nil, map[string]any{"type": "step_target_failed", "run_id": run.RunID, "step_id": st.id, "agent_identity": identity, "reason": err.Error()})
			return nil, err
		}
		s.recordStep(m, run, st.id, &identity, "", nil, map[string]any{"type": "step_target_completed", "run_id": run.RunID, "step_id": st.id, "agent_identity": identity})
		m.mu.Lock()
		run.StepLedger = append(run.StepLedger, stepLedgerEntry{StepID: st.id, AgentIdentity: &identity, Status: "completed", Output: mustMarshal(out), Timestamp: rfc3339(nowMS())})
		m.mu.Unlock()
		outputs = append(outputs, out)
	}
	if len(outputs) == 1 {
		return outputs[0], nil
	}
	return outputs, nil
}

// stepTurn runs one step turn on a member session.
func (s *server) stepTurn(ctx context.Context, sessionID string, prompt *contentInput, schema json.RawMessage, format string, timeout time.Duration) (any, error) {
	sess := s.realm.session(sessionID)
	if sess == nil {
		return nil, fmt.Errorf("member session %s not found", sessionID)
	}
	stepCtx, cancel := context.WithTimeoutCause(ctx, timeout, errRequestCancelled)
	defer cancel()
	if !sess.acquire(stepCtx) {
		return nil, fmt.Errorf("step timed out after %s waiting for the member", timeout)
	}
	out := s.executeTurn(stepCtx, &turnSpec{sess: sess, method: "mob/flow_run", prompt: prompt, schema: schema})
	if out.after != nil {
		out.after()
	}
	if out.err != nil {
		return nil, errors.New(out.err.Message)
	}
	if out.result.StructuredOutput != nil {
		v, _ := decodeAny(out.result.StructuredOutput)
		return v, nil
	}
	if format == "json" {
		if v, err := decodeAny(json.RawMessage(out.result.Text)); err == nil {
			return v, nil
		}
	}
	return out.result.Text, nil
}

// stepScope exposes finished step outputs to templates and conditions.
func stepScope(outcomes map[string]*stepOutcome) map[string]any {
	out := map[string]any{}
	for id, o := range outcomes {
		out[id] = map[string]any{"output": o.output, "status": o.status}
	}
	return out
}

var reTemplate = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// renderMessage renders {{ ... }} placeholders in a ContentInput.
func renderMessage(msg json.RawMessage, scope map[string]any) (json.RawMessage, error) {
	if jsonKind(msg) == "string" {
		var text string
		_ = json.Unmarshal(msg, &text)
		r, err := renderTemplate(text, scope)
		if err != nil {
			return nil, err
		}
		return jsonString(r), nil
	}
	var blocks []map[string]json.RawMessage
	if err := json.Unmarshal(msg, &blocks); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	for _, b := range blocks {
		var typ string
		_ = json.Unmarshal(b["type"], &typ)
		if typ != "text" {
			continue
		}
		var text string
		_ = json.Unmarshal(b["text"], &text)
		r, err := renderTemplate(text, scope)
		if err != nil {
			return nil, err
		}
		b["text"] = jsonString(r)
	}
	return mustMarshal(blocks), nil
}

func renderTemplate(text string, scope map[string]any) (string, error) {
	var firstErr error
	out := reTemplate.ReplaceAllStringFunc(text, func(ph string) string {
		expr := strings.TrimSpace(reTemplate.FindStringSubmatch(ph)[1])
		v, err := lookupPath(scope, expr, true)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return ph
		}
		switch x := v.(type) {
		case string:
			return x
		case nil:
			return "null"
		default:
			return string(mustMarshal(x))
		}
	})
	return out, firstErr
}

// lookupPath resolves "params.a.b" or "steps.<id>[.output].path". With
// strict set, a missing field under a present value is an error; an
// unproduced step yields nil.
func lookupPath(scope map[string]any, expr string, strict bool) (any, error) {
	parts := strings.Split(expr, ".")
	if len(parts) == 0 || parts[0] == "" {
		return nil, fmt.Errorf("empty template path")
	}
	var cur any
	rest := parts[1:]
	switch parts[0] {
	case "params":
		cur = scope["params"]
	case "steps":
		if len(rest) == 0 {
			return nil, fmt.Errorf("template path %q names no step", expr)
		}
		steps, _ := scope["steps"].(map[string]any)
		st, ok := steps[rest[0]].(map[string]any)
		if !ok {
			return nil, nil
		}
		rest = rest[1:]
		if len(rest) > 0 && rest[0] == "status" {
			return st["status"], nil
		}
		if len(rest) > 0 && rest[0] == "output" {
			rest = rest[1:]
		}
		cur = st["output"]
	case "loops":
		return nil, nil
	default:
		return nil, fmt.Errorf("unknown template root %q", parts[0])
	}
	for _, p := range rest {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				if strict {
					return nil, fmt.Errorf("missing field %q in %q", p, expr)
				}
				return nil, nil
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				if strict {
					return nil, fmt.Errorf("bad index %q in %q", p, expr)
				}
				return nil, nil
			}
			cur = c[i]
		case nil:
			return nil, nil
		default:
			if strict {
				return nil, fmt.Errorf("cannot index into a scalar at %q in %q", p, expr)
			}
			return nil, nil
		}
	}
	return cur, nil
}

// evalCondition evaluates a ConditionExpr.
func evalCondition(raw json.RawMessage, scope map[string]any) (bool, error) {
	var c struct {
		Op     string            `json:"op"`
		Path   string            `json:"path"`
		Value  json.RawMessage   `json:"value"`
		Values []json.RawMessage `json:"values"`
		Exprs  []json.RawMessage `json:"exprs"`
		Expr   json.RawMessage   `json:"expr"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, fmt.Errorf("condition: %w", err)
	}
	actual := func() (any, error) { return lookupPath(scope, c.Path, false) }
	switch c.Op {
	case "eq", "gt", "lt":
		a, err := actual()
		if err != nil {
			return false, err
		}
		want, err := decodeAny(c.Value)
		if err != nil {
			return false, err
		}
		if c.Op == "eq" {
			return jsonEqual(a, want), nil
		}
		x, ok1 := asFloat(a)
		y, ok2 := asFloat(want)
		if !ok1 || !ok2 {
			return false, nil
		}
		if c.Op == "gt" {
			return x > y, nil
		}
		return x < y, nil
	case "in":
		a, err := actual()
		if err != nil {
			return false, err
		}
		for _, v := range c.Values {
			if w, err := decodeAny(v); err == nil && jsonEqual(a, w) {
				return true, nil
			}
		}
		return false, nil
	case "and", "or":
		for _, e := range c.Exprs {
			ok, err := evalCondition(e, scope)
			if err != nil {
				return false, err
			}
			if c.Op == "and" && !ok {
				return false, nil
			}
			if c.Op == "or" && ok {
				return true, nil
			}
		}
		return c.Op == "and", nil
	case "not":
		ok, err := evalCondition(c.Expr, scope)
		return !ok, err
	}
	return false, fmt.Errorf("unknown condition op %q", c.Op)
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

func jsonEqual(a, b any) bool {
	if x, ok := asFloat(a); ok {
		if y, ok := asFloat(b); ok {
			return x == y
		}
	}
	return string(mustMarshal(a)) == string(mustMarshal(b))
}

func (s *server) findRun(raw json.RawMessage) (*mob, *flowRun, *rpcError) {
	m, rerr := s.mobParam(raw)
	if rerr != nil {
		return nil, nil, rerr
	}
	var p struct {
		RunID *string `json:"run_id"`
	}
	_ = json.Unmarshal(raw, &p)
	if p.RunID == nil {
		return nil, nil, invalidParams("Invalid params: missing field `run_id`")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.data.Runs {
		if r.RunID == *p.RunID {
			return m, r, nil
		}
	}
	return m, nil, nil
}

// runView returns a snapshot of a run record (nil for an unknown run).
func runView(m *mob, r *flowRun) json.RawMessage {
	if r == nil {
		return json.RawMessage("null")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return mustMarshal(r)
}

func (s *server) handleMobFlowStatus(rc *reqCtx) (any, *rpcError) {
	m, r, rerr := s.findRun(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	return struct {
		Run json.RawMessage `json:"run"`
	}{runView(m, r)}, nil
}

func (s *server) handleMobRunResult(rc *reqCtx) (any, *rpcError) {
	return s.handleMobFlowStatus(rc)
}

func (s *server) handleMobFlowCancel(rc *reqCtx) (any, *rpcError) {
	m, r, rerr := s.findRun(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	canceled := false
	if r != nil {
		m.mu.Lock()
		cancel := m.runs[r.RunID]
		m.mu.Unlock()
		if cancel != nil {
			cancel(errRequestCancelled)
			canceled = true
		}
	}
	return struct {
		Canceled bool `json:"canceled"`
	}{canceled}, nil
}
