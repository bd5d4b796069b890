package flows

import (
	"slices"
	"strings"
)

// Plan is the dependency structure of a flow, the form an executor runs: a
// tree of frames, each with its nodes in a topological order. A flat flow
// (no root) plans as one frame whose node ids are the step ids.
//
// A Plan is derived data, rebuilt cheaply from the FlowSpec; it shares no
// memory with it except the *StepSpec pointers, which must be treated as
// read-only.
type Plan struct {
	// FlowID is the planned flow's id.
	FlowID string
	// Root is the top frame.
	Root *FramePlan
}

// FramePlan is one frame of a plan.
type FramePlan struct {
	// LoopID is the loop whose body this frame is; "" for the root frame.
	LoopID string
	// Nodes in topological order: every node comes after its dependencies;
	// among nodes free to go, declaration order.
	Nodes []*PlanNode

	byID map[string]*PlanNode
}

// PlanNode is a node of a frame: a step, or a repeat_until loop.
type PlanNode struct {
	// ID is the node id (the step id in a flat flow).
	ID string
	// Kind is NodeStep or NodeRepeatUntil.
	Kind NodeKind
	// Step is the flow step a step node runs (nil for loops).
	Step *StepSpec
	// DependsOn and Mode are the node's dependencies (sibling node ids).
	DependsOn []string
	Mode      DependencyMode
	// Dependents are the sibling nodes that depend on this one, in plan order.
	Dependents []string
	// Branch is the node's branch group, "" for none.
	Branch string
	// FailurePolicy says whether the node's failure fails the frame.
	FailurePolicy FailurePolicy
	// Loop is set for repeat_until nodes.
	Loop *LoopPlan
}

// LoopPlan is the plan of a repeat_until node.
type LoopPlan struct {
	LoopID        string
	Body          *FramePlan
	Until         Condition
	MaxIterations uint32
}

// Node returns the frame's node with the given id, or nil.
func (fp *FramePlan) Node(id string) *PlanNode { return fp.byID[id] }

// Name returns the id a run's events, statuses and templates know the node
// by: its step's id for a step node, its loop id for a loop. It differs
// from ID, the node's key in its frame, when a definition names them
// differently; a flat flow's nodes are its steps, so there they agree.
func (n *PlanNode) Name() string {
	switch {
	case n.Step != nil:
		return n.Step.ID
	case n.Loop != nil:
		return n.Loop.LoopID
	}
	return n.ID
}

// StepNode returns the frame's node that runs the step with the given id,
// or nil.
func (fp *FramePlan) StepNode(stepID string) *PlanNode {
	for _, n := range fp.Nodes {
		if n.Step != nil && n.Step.ID == stepID {
			return n
		}
	}
	return nil
}

// LoopNode returns the frame's repeat_until node with the given loop id,
// or nil.
func (fp *FramePlan) LoopNode(loopID string) *PlanNode {
	for _, n := range fp.Nodes {
		if n.Loop != nil && n.Loop.LoopID == loopID {
			return n
		}
	}
	return nil
}

// Roots returns the nodes without dependencies, in plan order.
func (fp *FramePlan) Roots() []*PlanNode {
	var out []*PlanNode
	for _, n := range fp.Nodes {
		if len(n.DependsOn) == 0 {
			out = append(out, n)
		}
	}
	return out
}

// Ancestors returns the ids of the nodes id depends on, directly or not, in
// plan order.
func (fp *FramePlan) Ancestors(id string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(x string) {
		n := fp.byID[x]
		if n == nil {
			return
		}
		for _, d := range n.DependsOn {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(id)
	var out []string
	for _, n := range fp.Nodes {
		if seen[n.ID] {
			out = append(out, n.ID)
		}
	}
	return out
}

// Plan builds the flow's plan. It fails with a *ValidationError when the
// structure is broken (unknown dependency, cycle, unknown or misplaced
// step); a loaded flow always plans.
func (f *FlowSpec) Plan() (*Plan, error) {
	var p problems
	plan := f.plan(&p, pathKey("flows", f.ID))
	if err := p.err(); err != nil {
		return nil, err
	}
	return plan, nil
}

func (f *FlowSpec) plan(p *problems, path string) *Plan {
	steps := map[string]*StepSpec{}
	for i := range f.Steps {
		steps[f.Steps[i].ID] = &f.Steps[i]
	}
	if f.Root == nil {
		nodes := make([]*PlanNode, len(f.Steps))
		for i := range f.Steps {
			s := &f.Steps[i]
			nodes[i] = &PlanNode{
				ID: s.ID, Kind: NodeStep, Step: s,
				DependsOn: s.DependsOn, Mode: orMode(s.DependsOnMode),
				Branch: s.Branch, FailurePolicy: orPolicy(s.FailurePolicy),
			}
		}
		return &Plan{FlowID: f.ID, Root: order(p, nodes, "", func(id string) string {
			return pathKey(pathKey(path, "steps"), id)
		})}
	}
	placed := map[string]string{}
	return &Plan{FlowID: f.ID, Root: planFrame(p, f.Root, steps, placed, pathKey(path, "root"), "")}
}

func planFrame(p *problems, fr *FrameSpec, steps map[string]*StepSpec, placed map[string]string, path, loopID string) *FramePlan {
	nodesPath := pathKey(path, "nodes")
	nodes := make([]*PlanNode, 0, len(fr.Nodes))
	for _, n := range fr.Nodes {
		np := pathKey(nodesPath, n.ID)
		pn := &PlanNode{ID: n.ID, Kind: n.Kind(), DependsOn: n.DependsOn(), Mode: orMode(n.Mode()), FailurePolicy: orPolicy(n.Failure())}
		switch {
		case n.Step != nil:
			pn.Branch = n.Step.Branch
			s, ok := steps[n.Step.StepID]
			switch {
			case n.Step.StepID == "":
				p.add(pathKey(np, "step_id"), "required")
			case !ok:
				p.add(pathKey(np, "step_id"), "unknown step %q", n.Step.StepID)
			case placed[n.Step.StepID] != "":
				p.add(pathKey(np, "step_id"), "step %q is already placed by %s", n.Step.StepID, placed[n.Step.StepID])
			default:
				placed[n.Step.StepID] = np
				pn.Step = s
			}
		case n.RepeatUntil != nil:
			r := n.RepeatUntil
			pn.Loop = &LoopPlan{
				LoopID: r.LoopID, Until: r.Until, MaxIterations: r.MaxIterations,
				Body: planFrame(p, &r.Body, steps, placed, pathKey(np, "body"), r.LoopID),
			}
		default:
			p.add(np, "node is neither a step nor a repeat_until loop")
		}
		nodes = append(nodes, pn)
	}
	return order(p, nodes, loopID, func(id string) string { return pathKey(nodesPath, id) })
}

// order checks a frame's dependencies and sorts its nodes topologically,
// reporting unknown dependencies and every cycle.
func order(p *problems, nodes []*PlanNode, loopID string, nodePath func(string) string) *FramePlan {
	fp := &FramePlan{LoopID: loopID, byID: map[string]*PlanNode{}}
	for _, n := range nodes {
		fp.byID[n.ID] = n
	}
	for _, n := range nodes {
		seen := map[string]bool{}
		var deps []string
		for i, d := range n.DependsOn {
			dp := pathIndex(pathKey(nodePath(n.ID), "depends_on"), i)
			switch {
			case d == n.ID:
				p.add(dp, "%q depends on itself", d)
			case fp.byID[d] == nil:
				p.add(dp, "unknown dependency %q", d)
			case seen[d]:
				p.add(dp, "duplicate dependency %q", d)
			default:
				deps = append(deps, d)
			}
			seen[d] = true
		}
		n.DependsOn = deps
	}
	// Kahn's algorithm, earliest declared ready node first. done is by id
	// (what dependencies name), placed by position (ids may repeat in a
	// broken flow, which validation reports).
	done := map[string]bool{}
	placed := make([]bool, len(nodes))
	for len(fp.Nodes) < len(nodes) {
		progressed := false
		for i, n := range nodes {
			if placed[i] {
				continue
			}
			ready := true
			for _, d := range n.DependsOn {
				ready = ready && done[d]
			}
			if ready {
				placed[i], done[n.ID] = true, true
				fp.Nodes = append(fp.Nodes, n)
				progressed = true
				break
			}
		}
		if !progressed {
			reportCycles(p, nodes, done, nodePath)
			for i, n := range nodes { // keep every node in the plan
				if !placed[i] {
					placed[i], done[n.ID] = true, true
					fp.Nodes = append(fp.Nodes, n)
				}
			}
		}
	}
	for _, n := range fp.Nodes {
		for _, d := range n.DependsOn {
			fp.byID[d].Dependents = append(fp.byID[d].Dependents, n.ID)
		}
	}
	return fp
}

// reportCycles names each dependency cycle among the unplaced nodes once,
// at the first of its nodes in declaration order.
func reportCycles(p *problems, nodes []*PlanNode, done map[string]bool, nodePath func(string) string) {
	byID := map[string]*PlanNode{}
	decl := map[string]int{}
	for i, n := range nodes {
		byID[n.ID], decl[n.ID] = n, i
	}
	reported := map[string]bool{}
	for _, start := range nodes {
		if done[start.ID] {
			continue
		}
		// Walk dependencies among unplaced nodes until a node repeats.
		pos := map[string]int{}
		var trail []string
		cur := start.ID
		for {
			if i, ok := pos[cur]; ok {
				cycle := trail[i:]
				first := slices.MinFunc(cycle, func(a, b string) int { return decl[a] - decl[b] })
				k := slices.Index(cycle, first)
				rot := append(append([]string{}, cycle[k:]...), cycle[:k]...)
				key := strings.Join(rot, "\x00")
				if !reported[key] {
					reported[key] = true
					p.add(pathKey(nodePath(first), "depends_on"), "dependency cycle: %s -> %s", strings.Join(rot, " -> "), first)
				}
				break
			}
			pos[cur] = len(trail)
			trail = append(trail, cur)
			next := ""
			for _, d := range byID[cur].DependsOn {
				if !done[d] {
					next = d
					break
				}
			}
			if next == "" {
				break
			}
			cur = next
		}
	}
}

func orMode(m DependencyMode) DependencyMode {
	if m == "" {
		return DependAll
	}
	return m
}

func orPolicy(f FailurePolicy) FailurePolicy {
	if f == "" {
		return FailEscalate
	}
	return f
}
