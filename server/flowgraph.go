package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// FlowGraph is a flow's dependency structure, the form the console draws:
// every node of every frame, loop bodies included, in plan order (a node
// after its dependencies).
type FlowGraph struct {
	Nodes []GraphNode `json:"nodes"`
}

// GraphNode is one node of a FlowGraph: a step, or a repeat_until loop.
type GraphNode struct {
	// ID is unique in the graph: the node's id in its frame, prefixed by
	// the ids of the loops around it ("loop/step").
	ID string `json:"id"`
	// Kind is "step" or "repeat_until".
	Kind flows.NodeKind `json:"kind"`
	// Parent is the ID of the loop whose body holds the node, "" for the
	// top frame.
	Parent string `json:"parent,omitempty"`
	// DependsOn lists the IDs of the node's dependencies (nodes of the
	// same frame); Mode is "all" or "any".
	DependsOn []string             `json:"depends_on"`
	Mode      flows.DependencyMode `json:"mode,omitempty"`
	// Branch is the node's branch group, "" for none.
	Branch string `json:"branch,omitempty"`
	// FailurePolicy is "escalate" or "continue".
	FailurePolicy flows.FailurePolicy `json:"failure_policy,omitempty"`

	// StepID, for a step node, is the step's id: the one events and the
	// run's step ledger use.
	StepID string `json:"step_id,omitempty"`
	// Role is the profile whose members receive the step; "" for an
	// approval step.
	Role string `json:"role,omitempty"`
	// Approval is set for a mobd approval step.
	Approval *flows.Approval `json:"approval,omitempty"`
	// Message is the step's message template.
	Message      string                  `json:"message,omitempty"`
	DispatchMode flows.DispatchMode      `json:"dispatch_mode,omitempty"`
	OutputFormat flows.OutputFormat      `json:"output_format,omitempty"`
	Condition    *flows.Condition        `json:"condition,omitempty"`
	Collection   *flows.CollectionPolicy `json:"collection_policy,omitempty"`

	// LoopID, MaxIterations and Until describe a repeat_until node.
	LoopID        string           `json:"loop_id,omitempty"`
	MaxIterations uint32           `json:"max_iterations,omitempty"`
	Until         *flows.Condition `json:"until,omitempty"`
}

// FlowDetail is one flow of a mob's definition with its graph.
type FlowDetail struct {
	ID          string          `json:"id"`
	Description string          `json:"description,omitempty"`
	Graph       FlowGraph       `json:"graph"`
	Spec        json.RawMessage `json:"spec"`
}

// RunGraph is what drawing a run needs beyond its status: the graph of the
// flow it runs (as it was started), its params, and the message each step
// was given.
type RunGraph struct {
	RunID  string          `json:"run_id"`
	FlowID string          `json:"flow_id"`
	Params json.RawMessage `json:"params"`
	Graph  FlowGraph       `json:"graph"`
	// Inputs maps a step id to the message its latest execution was sent
	// (an approval step's question), rendered from the run's params and
	// the outputs before it. A one_to_one step's targets each see their
	// paired element of the dependency's output; Inputs shows the message
	// rendered with the whole output.
	Inputs map[string]string `json:"inputs"`
}

// flowGraph builds the graph of spec.
func flowGraph(spec *flows.FlowSpec) (FlowGraph, error) {
	plan, err := spec.Plan()
	if err != nil {
		return FlowGraph{}, err
	}
	g := FlowGraph{Nodes: []GraphNode{}}
	var walk func(fp *flows.FramePlan, parent string)
	walk = func(fp *flows.FramePlan, parent string) {
		id := func(n string) string {
			if parent == "" {
				return n
			}
			return parent + "/" + n
		}
		for _, n := range fp.Nodes {
			gn := GraphNode{ID: id(n.ID), Kind: n.Kind, Parent: parent, DependsOn: []string{}, Mode: n.Mode,
				Branch: n.Branch, FailurePolicy: n.FailurePolicy}
			for _, d := range n.DependsOn {
				gn.DependsOn = append(gn.DependsOn, id(d))
			}
			if st := n.Step; st != nil {
				gn.StepID, gn.Role, gn.Message = st.ID, st.Role, messageText(st.Message)
				gn.DispatchMode, gn.OutputFormat, gn.Condition = st.DispatchMode, st.Format(), st.Condition
				if st.CollectionPolicy.Type != "" {
					cp := st.CollectionPolicy
					gn.Collection = &cp
				}
				if st.Mobd != nil {
					gn.Approval = st.Mobd.Approval
				}
			}
			g.Nodes = append(g.Nodes, gn)
			if l := n.Loop; l != nil {
				last := &g.Nodes[len(g.Nodes)-1]
				until := l.Until
				last.LoopID, last.MaxIterations, last.Until = l.LoopID, l.MaxIterations, &until
				if l.Body != nil {
					walk(l.Body, gn.ID)
				}
			}
		}
	}
	walk(plan.Root, "")
	return g, nil
}

// messageText returns a message's text: the text, or the text blocks
// joined by newlines (other blocks are named by their type).
func messageText(m flows.Message) string {
	if !m.IsBlocks() {
		return m.Text
	}
	parts := make([]string, 0, len(m.Blocks))
	for _, b := range m.Blocks {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		} else {
			parts = append(parts, "["+b.Type+"]")
		}
	}
	return strings.Join(parts, "\n")
}

func (s *Server) handleGetFlow(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("flow")
	spec, ok := m.Definition().Flow(id)
	if !ok {
		s.writeError(w, r, apiErr(http.StatusNotFound, CodeFlowNotFound, "mob %q has no flow %q", m.ID(), id))
		return
	}
	g, err := flowGraph(&spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, FlowDetail{ID: id, Description: spec.Description, Graph: g, Spec: raw})
}

func (s *Server) handleRunGraph(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	run, err := m.Run(r.Context(), r.PathValue("run"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.runGraph(r.Context(), m, run)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

// runGraph replays the run's journalled events: its flow_started event
// gives the spec and the params, and the outputs of the steps as they
// completed give the scope each dispatch's message rendered in.
func (s *Server) runGraph(ctx context.Context, m *mob.Mob, run *mob.Run) (RunGraph, error) {
	out := RunGraph{RunID: run.ID(), FlowID: run.FlowID(), Params: json.RawMessage("{}"), Inputs: map[string]string{}}
	spec, ok := m.Definition().Flow(run.FlowID())
	var (
		sc       *mob.RunScope
		rendered = map[string]bool{} // frame|step already rendered
		after    uint64
	)
	newScope := func(params json.RawMessage) *mob.RunScope {
		var plan *flows.Plan
		if ok {
			plan, _ = spec.Plan()
		}
		return mob.NewRunScope(plan, params)
	}
	scope := func() *mob.RunScope { // a journal without flow_started
		if sc == nil {
			sc = newScope(nil)
		}
		return sc
	}
	for {
		recs, err := s.cfg.Journal.Read(ctx, journal.Query{Mob: m.ID(), Run: run.ID(), After: after, Limit: eventBatch})
		if err != nil {
			return out, err
		}
		for _, rec := range recs {
			after = rec.Seq
			ev, err := mob.DecodeEvent(rec)
			if err != nil {
				continue
			}
			switch ev.Type {
			case mob.EventFlowStarted:
				if sc != nil {
					continue
				}
				if len(ev.Params) > 0 {
					out.Params = ev.Params
				}
				if journalled, err := journalledFlow(m.Definition(), ev.Flow, ev.Spec); err == nil {
					spec, ok = journalled, true
				}
				sc = newScope(ev.Params)
			case mob.EventStepDispatched, mob.EventApprovalRequested:
				// Once per execution: a loop body's frame names its iteration.
				key := ev.Frame + "|" + ev.Step
				if rendered[key] || !ok {
					continue
				}
				rendered[key] = true
				if ev.Type == mob.EventApprovalRequested && ev.Text != "" {
					out.Inputs[ev.Step] = ev.Text
					continue
				}
				if st, found := spec.Step(ev.Step); found {
					if msg, err := st.Message.Render(scope().Scope()); err == nil {
						out.Inputs[ev.Step] = messageText(msg)
					}
				}
			case mob.EventStepCompleted, mob.EventLoopIterationStarted:
				scope().Apply(&ev)
			}
		}
		if len(recs) < eventBatch {
			break
		}
	}
	if !ok {
		return out, apiErr(http.StatusNotFound, CodeFlowNotFound, "run %q: flow %q is not in the definition", run.ID(), run.FlowID())
	}
	g, err := flowGraph(&spec)
	if err != nil {
		return out, err
	}
	out.Graph = g
	return out, nil
}

// journalledFlow decodes the flow spec journalled with a run, loaded into
// the mob's definition so that its roles and schemas resolve as at the
// start.
func journalledFlow(def *flows.Definition, flowID string, spec json.RawMessage) (flows.FlowSpec, error) {
	if len(spec) == 0 {
		return flows.FlowSpec{}, mob.ErrFlowNotFound
	}
	return def.LoadFlowJSON(flowID, spec)
}
