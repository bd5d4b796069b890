package mob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/rpc"
)

// RunStatus is a flow run's status (Meerkat's FlowRunStatus).
type RunStatus string

// Run statuses.
const (
	RunPending   RunStatus = "pending"
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCanceled  RunStatus = "canceled"
)

// Terminal reports whether s is final.
func (s RunStatus) Terminal() bool {
	return s == RunCompleted || s == RunFailed || s == RunCanceled
}

// StepStatus is a step's status in a run (Meerkat's StepRunStatus, plus
// "pending" before it starts and "awaiting_approval").
type StepStatus string

// Step statuses.
const (
	StepPending    StepStatus = "pending"
	StepDispatched StepStatus = "dispatched"
	StepAwaiting   StepStatus = "awaiting_approval"
	StepCompleted  StepStatus = "completed"
	StepFailed     StepStatus = "failed"
	StepSkipped    StepStatus = "skipped"
	StepCanceled   StepStatus = "canceled"
)

func (s StepStatus) terminal() bool {
	return s == StepCompleted || s == StepFailed || s == StepSkipped || s == StepCanceled
}

// RunOptions are the options of a flow run.
type RunOptions struct {
	// RunID is the run's id and its idempotency key; empty means a fresh
	// id. A start with the id of a run the mob already has (active, or
	// finished and still in its journal) is a replay of the start of that
	// run: if it asks for the same flow with the same params (compared as
	// JSON values: object key order, spacing and string escapes do not
	// matter; numbers compare by their text, so 1 and 1.0 differ), it
	// returns that run instead of starting another; if not, it fails with
	// ErrRunIDConflict. An id must be valid UTF-8 of at most 256 bytes
	// without control characters: others are refused with
	// ErrInvalidArgument.
	RunID string
}

// Snapshot is a run's status: Meerkat's run record (step ledger, failure
// ledger, usage accounting) plus what mobd adds.
type Snapshot struct {
	RunID     string    `json:"run_id"`
	FlowID    string    `json:"flow_id"`
	Status    RunStatus `json:"status"`
	Reason    string    `json:"reason,omitempty"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Steps is the step ledger: one entry per step execution (a step in a
	// loop body has one per iteration), in the order they started.
	Steps []StepRecord `json:"steps"`
	// Failures is the failure ledger.
	Failures []FailureRecord `json:"failures"`
	// Accounting is the run's token usage.
	Accounting Accounting `json:"accounting"`
	// Outputs maps a step id to its latest output.
	Outputs map[string]json.RawMessage `json:"outputs,omitempty"`
}

// StepRecord is an entry of the step ledger.
type StepRecord struct {
	StepID    string          `json:"step_id"`
	Frame     string          `json:"frame,omitempty"`
	Status    StepStatus      `json:"status"`
	Output    json.RawMessage `json:"output,omitempty"`
	Targets   []TargetRecord  `json:"targets,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Timestamp time.Time       `json:"timestamp"`
}

// TargetRecord is one member's part in a step.
type TargetRecord struct {
	AgentIdentity string          `json:"agent_identity"`
	Status        StepStatus      `json:"status"`
	Attempts      int             `json:"attempts"`
	Output        json.RawMessage `json:"output,omitempty"`
	Error         string          `json:"error,omitempty"`
}

// FailureRecord is an entry of the failure ledger.
type FailureRecord struct {
	StepID string `json:"step_id"`
	Frame  string `json:"frame,omitempty"`
	// Member is the failing target, "" for a step-level failure.
	Member string `json:"agent_identity,omitempty"`
	// Attempt is the target's attempt.
	Attempt int `json:"attempt,omitempty"`
	// Reason is the failure class; Error the message.
	Reason string    `json:"reason"`
	Error  string    `json:"error"`
	At     time.Time `json:"timestamp"`
}

// Accounting is a run's token usage, summed over the turns of its steps.
type Accounting struct {
	Attribution      string               `json:"attribution"`
	Members          map[string]rpc.Usage `json:"members"`
	UsageTotal       rpc.Usage            `json:"usage_total"`
	MemberSessionIDs map[string]string    `json:"member_session_ids"`
}

// Run is a handle on a flow run. Its methods are safe for concurrent use.
type Run struct {
	m      *Mob
	id     string
	flowID string
	// params are the run's params, as journalled: what a replay of its
	// start must ask for (RunOptions.RunID).
	params json.RawMessage
	pid    *actor.PID
	done   chan struct{}
	// stopped is closed once the run actor has stopped (at once for a
	// run rebuilt from the journal, which has none).
	stopped chan struct{}

	// mu guards the run actor's state (written by its apply) and final.
	mu    sync.Mutex
	ra    *runActor
	final *Snapshot // set once the run ended
	err   error
}

// ID returns the run's id.
func (r *Run) ID() string { return r.id }

// FlowID returns the flow's id.
func (r *Run) FlowID() string { return r.flowID }

// Done is closed once the run has ended and its end is journalled.
func (r *Run) Done() <-chan struct{} { return r.done }

// Status returns a snapshot of the run. It is built on demand, from the
// run actor's state under the run's lock, so that a run does not pay for
// snapshots nobody reads.
func (r *Run) Status() Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status()
}

// status returns the snapshot; r.mu held.
func (r *Run) status() Snapshot {
	if r.final != nil {
		return *r.final
	}
	return r.ra.snapshot()
}

// Wait waits for the run to end and returns its final snapshot: with a nil
// error when it completed, else a *RunError (ErrRunFailed) with the
// reason. ctx bounds the wait only.
func (r *Run) Wait(ctx context.Context) (Snapshot, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		return r.Status(), ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status(), r.err
}

// Output returns a step's latest output (a JSON string for text steps), or
// nil if it has none.
func (r *Run) Output(step string) json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return r.final.Outputs[step]
	}
	return r.ra.output(step)
}

// Output decodes the output of a step of a Go-defined flow into its type.
// A step sent to several members (fan_out, one_to_one) has an array of
// their outputs as its output: read those with TargetOutputs.
func Output[T any](r *Run, step flows.Ref[T]) (T, error) {
	out := r.Output(step.ID())
	if out == nil {
		var zero T
		return zero, fmt.Errorf("mob: step %q of run %s has no output", step.ID(), r.id)
	}
	return step.Decode(out)
}

// TargetOutputs decodes, by member identity, the outputs of the members
// that completed a step of a Go-defined flow (its latest execution, for a
// step in a loop body).
func TargetOutputs[T any](r *Run, step flows.Ref[T]) (map[string]T, error) {
	snap := r.Status()
	for i := len(snap.Steps) - 1; i >= 0; i-- {
		rec := snap.Steps[i]
		if rec.StepID != step.ID() {
			continue
		}
		out := make(map[string]T, len(rec.Targets))
		for _, t := range rec.Targets {
			if t.Status != StepCompleted {
				continue
			}
			v, err := step.Decode(t.Output)
			if err != nil {
				return nil, fmt.Errorf("mob: output of %s for step %q: %w", t.AgentIdentity, step.ID(), err)
			}
			out[t.AgentIdentity] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("mob: step %q of run %s has not run", step.ID(), r.id)
}

// Cancel cancels the run: steps in flight are abandoned (their member
// turns get limits.cancel_grace_timeout_ms to finish, then are
// cancelled), nothing more is dispatched, and the run ends canceled with
// reason. It returns once the
// cancellation is journalled, or with ErrRunFinished when the run had
// already ended (ErrClosed when the mob was closed).
func (r *Run) Cancel(ctx context.Context, reason string) error {
	reply := make(chan error, 1)
	return r.ask(ctx, &cancelRun{reason: reason, reply: reply}, reply)
}

// Decide records a human decision for an approval step waiting for one.
// by must be one of the step's approvers when it lists any. It fails with
// ErrStepNotFound for a step the flow does not have, ErrNotAwaitingApproval
// for one not waiting for a decision, ErrNotApprover, or ErrRunFinished.
func (r *Run) Decide(ctx context.Context, step string, d flows.ApprovalDecision) error {
	select {
	case <-r.done:
		// Ended: the run actor may be gone, so the flow answers for its
		// steps. (A live run's actor checks, in turn with its events.)
		if spec, ok := r.m.def.Flow(r.flowID); ok {
			if _, ok := spec.Step(step); !ok {
				return fmt.Errorf("%w: run %s of flow %s has no step %q", ErrStepNotFound, r.id, r.flowID, step)
			}
		}
	default:
	}
	reply := make(chan error, 1)
	return r.ask(ctx, &decide{step: step, d: d, reply: reply}, reply)
}

// ask sends a control message to the run actor and waits for its verdict
// on reply. A run actor that stops (the run ended, or the mob was closed)
// drops the messages still in its mailbox, so ask also watches for that.
// The run's end is published before its actor stops: a message the actor
// takes meanwhile is answered.
func (r *Run) ask(ctx context.Context, msg any, reply <-chan error) error {
	select {
	case <-r.done:
		return fmt.Errorf("%w: %s", ErrRunFinished, r.id)
	default:
	}
	r.m.cfg.Host.System().Root.Send(r.pid, msg)
	var gone error
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		gone = fmt.Errorf("%w: %s", ErrRunFinished, r.id)
		select {
		case <-r.m.stop: // stopped by Close, not by the run's end
			gone = fmt.Errorf("%w: run %s", ErrClosed, r.id)
		default:
		}
	case <-r.m.stop:
		gone = fmt.Errorf("%w: run %s", ErrClosed, r.id)
	}
	select {
	case err := <-reply: // handled before the actor stopped
		return err
	default:
		return gone
	}
}

// stopActor stops the run actor without ending the run (Mob.Close),
// behind the messages already in its mailbox: an answer that came before
// the close is journalled, not dropped (the engine's shutdown answers the
// turns it let finish before the daemon closes its mobs).
func (r *Run) stopActor() {
	r.m.cfg.Host.System().Root.Poison(r.pid)
}

// RunFlow starts a run of one of the definition's flows with params (any
// value that encodes to JSON; nil is {}). The run goes on in its own
// actor; wait for it with Run.Wait.
//
// With opts.RunID naming a run the mob already has, RunFlow returns that
// run when it is a run of flowID with the same params, and fails with
// ErrRunIDConflict when it is not (see RunOptions.RunID); StartFlow tells
// such a replay from a start. Arguments it cannot take (a malformed
// RunID, params that do not encode to JSON) fail with ErrInvalidArgument,
// an unknown flow with ErrFlowNotFound.
func (m *Mob) RunFlow(ctx context.Context, flowID string, params any, opts RunOptions) (*Run, error) {
	r, _, err := m.StartFlow(ctx, flowID, params, opts)
	return r, err
}

// StartFlow is RunFlow that also reports whether this call started the
// run: started is false when the run is one an earlier start with the
// same opts.RunID, flow and params started (an idempotent replay).
func (m *Mob) StartFlow(ctx context.Context, flowID string, params any, opts RunOptions) (r *Run, started bool, err error) {
	m.prepMu.Lock()
	pf := m.prepared[flowID]
	m.prepMu.Unlock()
	if pf == nil {
		spec, ok := m.def.Flow(flowID)
		if !ok {
			return nil, false, fmt.Errorf("%w: %q in mob %q", ErrFlowNotFound, flowID, m.id)
		}
		if pf, err = m.prepare(spec); err != nil {
			return nil, false, err
		}
		// The definition's flows do not change: checked, planned and
		// encoded once.
		m.prepMu.Lock()
		m.prepared[flowID] = pf
		m.prepMu.Unlock()
	}
	return m.run(ctx, pf, params, opts)
}

// RunSpec starts a run of a flow given as a spec, such as one built with
// the Go DSL (flows.NewFlow). Its roles must be profiles of the mob.
// opts.RunID is an idempotency key as for RunFlow: a replay must name a
// run of a flow with the spec's id and the same params.
func (m *Mob) RunSpec(ctx context.Context, spec flows.FlowSpec, params any, opts RunOptions) (*Run, error) {
	pf, err := m.prepare(spec)
	if err != nil {
		return nil, err
	}
	r, _, err := m.run(ctx, pf, params, opts)
	return r, err
}

// preparedFlow is a flow checked against the mob, planned, and encoded for
// the journal (with its schemas inline). It is read-only: runs share it.
type preparedFlow struct {
	spec flows.FlowSpec
	plan *flows.Plan
	raw  json.RawMessage
}

func (m *Mob) prepare(spec flows.FlowSpec) (*preparedFlow, error) {
	// Validate writes the resolved schemas into the steps, which the
	// caller's spec (or the mob's definition, for concurrent starts of one
	// flow) shares.
	spec = ownSteps(spec)
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	for _, st := range spec.Steps {
		if st.Role != "" {
			if _, ok := m.def.Profiles[st.Role]; !ok {
				return nil, fmt.Errorf("%w: step %q targets role %q", ErrUnknownProfile, st.ID, st.Role)
			}
		}
	}
	plan, err := spec.Plan()
	if err != nil {
		return nil, err
	}
	inline := *m.def
	inline.Flows = map[string]flows.FlowSpec{spec.ID: spec}
	raw, err := json.Marshal(inline.WithInlineSchemas().Flows[spec.ID])
	if err != nil {
		return nil, fmt.Errorf("mob: encode flow %q: %w", spec.ID, err)
	}
	return &preparedFlow{spec: spec, plan: plan, raw: raw}, nil
}

// ownSteps returns f with a copy of its steps, for validation to write
// into.
func ownSteps(f flows.FlowSpec) flows.FlowSpec {
	f.Steps = slices.Clone(f.Steps)
	return f
}

// run starts a run of a prepared flow, or returns the run opts.RunID
// names when the start is a replay of its start (started false).
func (m *Mob) run(ctx context.Context, pf *preparedFlow, params any, opts RunOptions) (*Run, bool, error) {
	spec, plan, sraw := pf.spec, pf.plan, pf.raw
	if opts.RunID != "" {
		if err := checkID("run id", opts.RunID); err != nil {
			return nil, false, err
		}
	}
	praw, err := encodeParams(params)
	if err != nil {
		return nil, false, err
	}
	if opts.RunID != "" {
		// A run with this id that finished and left memory is still the run.
		if r, err := m.Run(ctx, opts.RunID); err == nil {
			return r.replay(spec.ID, praw)
		} else if !errors.Is(err, ErrRunNotFound) {
			return nil, false, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.allowed("flow run", StateRunning); err != nil {
		return nil, false, err
	}
	id := opts.RunID
	if id == "" {
		id = m.cfg.NewID()
	} else if r := m.runs[id]; r != nil { // started meanwhile
		return r.replay(spec.ID, praw)
	}
	ev := Event{Type: EventFlowStarted, Run: id, Flow: spec.ID, Params: praw, Spec: sraw}
	if err := m.emit(&ev); err != nil {
		return nil, false, err
	}
	ra := newRunActor(m, id, spec, plan, praw)
	ra.apply(&ev)
	return m.startRun(ra), true, nil
}

// replay returns r for a start with r's id that asks for flowID with
// params (encoded): r itself when r is a run of that flow with the same
// params, else an ErrRunIDConflict. The error does not show the params: a
// client that lost track of the run may not be the one that started it.
func (r *Run) replay(flowID string, params json.RawMessage) (*Run, bool, error) {
	if r.flowID != flowID {
		return nil, false, fmt.Errorf("%w: run %q of mob %q is a run of flow %q, not %q", ErrRunIDConflict, r.id, r.m.id, r.flowID, flowID)
	}
	if !sameJSON(r.params, params) {
		return nil, false, fmt.Errorf("%w: run %q of mob %q has other params", ErrRunIDConflict, r.id, r.m.id)
	}
	return r, false, nil
}

// sameJSON reports whether a and b encode the same JSON value: object key
// order, spacing and string escapes do not matter; numbers compare by
// their text, exactly (1 and 1.0 differ). Empty is {}, as for params.
func sameJSON(a, b json.RawMessage) bool {
	va, erra := decodeJSONValue(a)
	vb, errb := decodeJSONValue(b)
	return erra == nil && errb == nil && reflect.DeepEqual(va, vb)
}

// decodeJSONValue decodes raw into maps, slices, strings, bools, nil and
// json.Numbers.
func decodeJSONValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// encodeParams encodes a run's params; nil is {}. Params that are not
// valid JSON, or do not encode to it, fail with ErrInvalidArgument.
func encodeParams(params any) (json.RawMessage, error) {
	if params == nil {
		return json.RawMessage(`{}`), nil
	}
	if raw, ok := params.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: params are not valid JSON", ErrInvalidArgument)
		}
		return raw, nil
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%w: encode params: %w", ErrInvalidArgument, err)
	}
	return raw, nil
}

// newRun returns the Run of ra.
func (m *Mob) newRun(ra *runActor) *Run {
	r := &Run{m: m, id: ra.id, flowID: ra.spec.ID, params: ra.params, done: make(chan struct{}), stopped: make(chan struct{}), ra: ra}
	ra.run = r
	return r
}

// startRun spawns the run actor of ra; m.mu held.
func (m *Mob) startRun(ra *runActor) *Run {
	r := m.newRun(ra)
	m.runs[r.id] = r
	m.wg.Add(1)
	r.pid = m.cfg.Host.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return ra }, actor.WithDispatcher(m.dispatch)))
	return r
}

// Run returns the run with the given id: an active or recently finished
// run from memory, an older finished one rebuilt from the journal (its
// Status is final; it cannot be canceled or decided any more).
func (m *Mob) Run(ctx context.Context, id string) (*Run, error) {
	m.mu.Lock()
	r := m.runs[id]
	m.mu.Unlock()
	if r != nil {
		return r, nil
	}
	evs, err := m.RunEvents(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Type != EventFlowStarted {
		return nil, fmt.Errorf("%w: %q in mob %q", ErrRunNotFound, id, m.id)
	}
	ra, err := m.replayRun(evs[0], evs)
	if err != nil {
		return nil, err
	}
	if !ra.status.Terminal() {
		// Active runs are always in memory; this one belongs to another
		// process holding the journal.
		return nil, fmt.Errorf("%w: %q in mob %q is not finished and not run here", ErrRunNotFound, id, m.id)
	}
	r = m.newRun(ra)
	r.final = new(ra.snapshot())
	r.err = ra.outcome()
	close(r.done)
	close(r.stopped)
	return r, nil
}

// retain keeps a finished run in memory among the last
// Config.RetainRuns ones.
func (m *Mob) retain(r *Run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs[r.id] != r {
		return
	}
	m.finished = append(m.finished, r.id)
	for len(m.finished) > max(m.cfg.RetainRuns, 0) {
		delete(m.runs, m.finished[0])
		m.finished = m.finished[1:]
	}
}

// Runs returns the mob's active runs and its most recently finished ones
// (Config.RetainRuns), oldest first.
func (m *Mob) Runs() []*Run {
	m.mu.Lock()
	out := slices.Collect(maps.Values(m.runs))
	m.mu.Unlock()
	// The snapshot is the run actor's to replace: read it under r.mu.
	started := make(map[*Run]time.Time, len(out))
	for _, r := range out {
		started[r] = r.Status().StartedAt
	}
	slices.SortFunc(out, func(a, b *Run) int {
		if c := started[a].Compare(started[b]); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// RunEvents returns the events of one run after cursor.
func (m *Mob) RunEvents(ctx context.Context, run string, after uint64) ([]Event, error) {
	return readEvents(ctx, m.cfg.Journal, journal.Query{Mob: m.id, Run: run, After: after})
}
