package flows

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Validate checks every rule of the model and returns a *ValidationError
// listing all problems, or nil. It also resolves what a loaded definition
// carries resolved: each step's ExpectedSchema from an inline
// expected_schema_ref (a named ref must already be resolved, as the loaders
// do; see [LoadOptions]). Validate does not fill defaults.
func (d *Definition) Validate() error {
	var p problems
	validateDefinition(&p, d, nil)
	return p.err()
}

// Validate checks the flow on its own: everything [Definition.Validate]
// checks of a flow except that roles name profiles and timeouts against the
// mob's limits.
func (f *FlowSpec) Validate() error {
	var p problems
	validateFlow(&p, f, nil, nil, pathKey("flows", f.ID))
	return p.err()
}

func validateDefinition(p *problems, d *Definition, schemas fs.FS) {
	if d.ID == "" {
		p.add("id", "required")
	}
	if len(d.Profiles) == 0 {
		p.add("profiles", "required: at least one profile")
	}
	isProfile := func(at, name string) {
		if name == "" {
			p.add(at, "required")
		} else if _, ok := d.Profiles[name]; !ok {
			p.add(at, "unknown profile %q", name)
		}
	}
	for _, name := range sortedKeys(d.Profiles) {
		validateProfile(p, d, name, pathKey("profiles", name))
	}
	if d.Orchestrator != nil {
		isProfile("orchestrator.profile", d.Orchestrator.Profile)
	}
	for _, id := range sortedKeys(d.Models) {
		if d.Models[id].Provider == "" {
			p.add(pathKey(pathKey("models", id), "provider"), "required")
		}
	}
	for i, rw := range d.Wiring.RoleWiring {
		at := pathIndex("wiring.role_wiring", i)
		isProfile(at+".a", rw.A)
		isProfile(at+".b", rw.B)
	}
	for _, name := range sortedKeys(d.Skills) {
		validateSkill(p, d.Skills[name], pathKey("skills", name))
	}
	if t := d.Topology; t != nil {
		if t.Mode == "" {
			p.add("topology.mode", "required: advisory or strict")
		}
		for i, r := range t.Rules {
			at := pathIndex("topology.rules", i)
			isProfile(at+".from_role", r.FromRole)
			isProfile(at+".to_role", r.ToRole)
		}
	}
	if s := d.Supervisor; s != nil {
		isProfile("supervisor.role", s.Role)
		if s.EscalationTurnTimeoutMS != nil && *s.EscalationTurnTimeoutMS == 0 {
			p.add("supervisor.escalation_turn_timeout_ms", "must be positive")
		}
	}
	if sp := d.SpawnPolicy; sp != nil {
		switch sp.Mode {
		case SpawnNone:
			if len(sp.ProfileMap) > 0 {
				p.add("spawn_policy.profile_map", "not allowed with mode none")
			}
		case SpawnAuto:
			if sp.ProfileMap == nil {
				p.add("spawn_policy.profile_map", "required with mode auto")
			}
			for _, k := range sortedKeys(sp.ProfileMap) {
				isProfile(pathKey("spawn_policy.profile_map", k), sp.ProfileMap[k])
			}
		case "":
			p.add("spawn_policy.mode", "required: none or auto")
		default:
			p.add("spawn_policy.mode", "unknown value %q (want none or auto)", sp.Mode)
		}
	}
	if er := d.EventRouter; er != nil && er.BufferSize != nil && *er.BufferSize == 0 {
		p.add("event_router.buffer_size", "must be positive")
	}
	for _, id := range sortedKeys(d.Flows) {
		f := d.Flows[id]
		checkSegment(p, pathKey("flows", id), "flow", id)
		if f.ID != "" && f.ID != id {
			p.add(pathKey("flows", id), "flow id %q does not match its key", f.ID)
		}
		f.ID = id
		validateFlow(p, &f, d, schemas, pathKey("flows", id))
		d.Flows[id] = f
	}
}

func validateProfile(p *problems, d *Definition, name, at string) {
	pr := d.Profiles[name]
	if name == "" {
		p.add(at, "profile name must not be empty")
	}
	if pr.Model == "" {
		p.add(pathKey(at, "model"), "required")
	}
	if pr.AutoCompactThreshold != nil && *pr.AutoCompactThreshold == 0 {
		p.add(pathKey(at, "auto_compact_threshold"), "must be positive")
	}
	// Meerkat fields a member's session cannot be given (session/create
	// has no place for them): refused rather than dropped.
	if pr.AutoCompactThreshold != nil && *pr.AutoCompactThreshold > 0 {
		p.unsupported(pathKey(at, "auto_compact_threshold"), "per-member auto-compaction thresholds")
	}
	if pr.MaxInlinePeerNotifications != nil {
		p.unsupported(pathKey(at, "max_inline_peer_notifications"), "inline peer notification limits")
	}
	if pr.Tools.ReadOnly {
		p.unsupported(pathKey(pathKey(at, "tools"), "read_only"), "the read-only tool gate (Meerkat's own mob host enforces it)")
	}
	for i, sk := range pr.Skills {
		if _, ok := d.Skills[sk]; !ok {
			p.add(pathIndex(pathKey(at, "skills"), i), "unknown skill %q", sk)
		}
	}
	if os := pr.OutputSchema; os != nil {
		sp := pathKey(at, "output_schema")
		if _, err := CompileSchema(os.Schema); err != nil {
			p.add(pathKey(sp, "schema"), "%s", trimPrefix(err))
		}
		if os.Compat != "" && os.Compat != "lossy" && os.Compat != "strict" {
			p.add(pathKey(sp, "compat"), "unknown value %q (want lossy or strict)", os.Compat)
		}
		if os.Format != "" && os.Format != "meerkat_v1" {
			p.add(pathKey(sp, "format"), "unknown value %q (want meerkat_v1)", os.Format)
		}
	}
	if len(pr.ProviderParams) > 0 && pr.ProviderParams[0] != '{' {
		p.add(pathKey(at, "provider_params"), "want an object")
	}
}

func validateSkill(p *problems, s SkillSource, at string) {
	switch s.Source {
	case SkillInline:
		if s.Content == "" {
			p.add(pathKey(at, "content"), "required for an inline skill")
		}
		if s.Path != "" {
			p.add(pathKey(at, "path"), "not allowed for an inline skill")
		}
	case SkillPath:
		if s.Path == "" {
			p.add(pathKey(at, "path"), "required for a path skill")
		}
		if s.Content != "" {
			p.add(pathKey(at, "content"), "not allowed for a path skill")
		}
	case "":
		p.add(pathKey(at, "source"), "required: inline or path")
	default:
		p.add(pathKey(at, "source"), "unknown value %q (want inline or path)", s.Source)
	}
}

// visibility is what a node's templates and conditions may reference:
// steps by steps.<id>, loops by loops.<id>.iterations.<n>.steps.<id>.
type visibility struct {
	steps map[string]bool
	loops map[string]bool
}

func (v visibility) with(steps, loops []string) visibility {
	out := visibility{steps: map[string]bool{}, loops: map[string]bool{}}
	for k := range v.steps {
		out.steps[k] = true
	}
	for k := range v.loops {
		out.loops[k] = true
	}
	for _, s := range steps {
		out.steps[s] = true
	}
	for _, l := range loops {
		out.loops[l] = true
	}
	return out
}

// flowChecker carries what the checks of one flow share.
type flowChecker struct {
	p       *problems
	d       *Definition // nil for a standalone flow
	f       *FlowSpec
	path    string
	schemas fs.FS
	loops   map[string]*RepeatUntilSpec
	body    map[string]map[string]bool // loop id -> steps placed directly in its body
	checked map[string]bool
}

func validateFlow(p *problems, f *FlowSpec, d *Definition, schemas fs.FS, at string) {
	c := &flowChecker{p: p, d: d, f: f, path: at, schemas: schemas,
		loops: map[string]*RepeatUntilSpec{}, body: map[string]map[string]bool{}, checked: map[string]bool{}}
	if len(f.Steps) == 0 {
		p.add(pathKey(at, "steps"), "required: a flow needs at least one step")
	}
	seen := map[string]bool{}
	for i := range f.Steps {
		s := &f.Steps[i]
		if s.ID == "" {
			p.add(pathKey(at, "steps"), "step id must not be empty")
		}
		if seen[s.ID] {
			p.add(c.stepPath(s.ID), "duplicate step id")
		}
		checkSegment(p, c.stepPath(s.ID), "step", s.ID)
		seen[s.ID] = true
		c.checkStepFields(s)
	}
	c.checkExtensions()
	if f.Root != nil {
		for i := range f.Steps {
			s := &f.Steps[i]
			sp := c.stepPath(s.ID)
			if len(s.DependsOn) > 0 {
				p.add(pathKey(sp, "depends_on"), "not allowed when the flow has a root frame: put dependencies on the frame node")
			}
			if s.DependsOnMode == DependAny {
				p.add(pathKey(sp, "depends_on_mode"), "not allowed when the flow has a root frame: set it on the frame node")
			}
			if s.Branch != "" {
				p.add(pathKey(sp, "branch"), "not allowed when the flow has a root frame: set it on the frame node")
			}
			if s.FailurePolicy == FailContinue {
				p.add(pathKey(sp, "failure_policy"), "not allowed when the flow has a root frame: set it on the frame node")
			}
		}
		c.collectLoops(f.Root, pathKey(at, "root"))
	}
	plan := f.plan(p, at)
	if f.Root == nil {
		c.checkFrame(plan.Root, visibility{}, "")
	} else {
		c.checkFrame(plan.Root, visibility{}, pathKey(at, "root"))
		for i := range f.Steps {
			if !c.checked[f.Steps[i].ID] && f.Steps[i].ID != "" {
				p.add(c.stepPath(f.Steps[i].ID), "step is not placed in the root frame")
			}
		}
	}
}

// checkSegment refuses a flow or step id of "." or "..": the API names
// flows and steps in URL paths, where such a segment names its parent.
func checkSegment(p *problems, at, what, id string) {
	if id == "." || id == ".." {
		p.add(at, "a %s id must not be %q: the API's URLs could not name it", what, id)
	}
}

func (c *flowChecker) stepPath(id string) string { return pathKey(pathKey(c.path, "steps"), id) }

// collectLoops indexes loop ids and the steps of each loop body.
func (c *flowChecker) collectLoops(fr *FrameSpec, at string) {
	for _, n := range fr.Nodes {
		np := pathKey(pathKey(at, "nodes"), n.ID)
		if n.ID == "" {
			c.p.add(pathKey(at, "nodes"), "node id must not be empty")
		}
		r := n.RepeatUntil
		if r == nil {
			continue
		}
		switch {
		case r.LoopID == "":
			c.p.add(pathKey(np, "loop_id"), "required")
		case c.loops[r.LoopID] != nil:
			c.p.add(pathKey(np, "loop_id"), "duplicate loop id %q", r.LoopID)
		default:
			c.loops[r.LoopID] = r
		}
		if r.MaxIterations == 0 {
			c.p.add(pathKey(np, "max_iterations"), "must be at least 1")
		}
		if len(r.Body.Nodes) == 0 {
			c.p.add(pathKey(pathKey(np, "body"), "nodes"), "a loop body needs at least one node")
		}
		direct := map[string]bool{}
		for _, bn := range r.Body.Nodes {
			if bn.Step != nil {
				direct[bn.Step.StepID] = true
			}
		}
		if r.LoopID != "" && c.body[r.LoopID] == nil {
			c.body[r.LoopID] = direct
		}
		c.collectLoops(&r.Body, pathKey(np, "body"))
	}
}

// checkFrame checks the references and branches of one planned frame.
// framePath is "" for a flat flow (nodes are the flow's steps).
func (c *flowChecker) checkFrame(fp *FramePlan, inherited visibility, framePath string) {
	nodePath := func(id string) string {
		if framePath == "" {
			return c.stepPath(id)
		}
		return pathKey(pathKey(framePath, "nodes"), id)
	}
	for _, n := range fp.Nodes {
		var steps, loops []string
		for _, a := range fp.Ancestors(n.ID) {
			an := fp.Node(a)
			if an.Step != nil {
				steps = append(steps, an.Step.ID)
			}
			if an.Loop != nil {
				loops = append(loops, an.Loop.LoopID)
			}
		}
		vis := inherited.with(steps, loops)
		switch {
		case n.Step != nil:
			c.checked[n.Step.ID] = true
			c.checkRefs(n.Step, vis)
		case n.Loop != nil:
			own := vis.with(nil, []string{n.Loop.LoopID})
			c.checkFrame(n.Loop.Body, own, pathKey(nodePath(n.ID), "body"))
			var bodySteps []string
			for _, bn := range n.Loop.Body.Nodes {
				if bn.Step != nil {
					bodySteps = append(bodySteps, bn.Step.ID)
				}
			}
			c.checkCondition(n.Loop.Until, own.with(bodySteps, nil), pathKey(nodePath(n.ID), "until"), "loop "+n.Loop.LoopID)
		}
	}
	c.checkBranches(fp, nodePath)
}

// checkRefs checks the templates and condition of a step against what it
// may see.
func (c *flowChecker) checkRefs(s *StepSpec, vis visibility) {
	sp := c.stepPath(s.ID)
	check := func(src, at string) {
		t, err := ParseTemplate(src)
		if err != nil {
			c.p.add(at, "%s", trimPrefix(err))
			return
		}
		for _, ref := range t.parts {
			if ref.ref != nil {
				if msg := c.refProblem(*ref.ref, vis); msg != "" {
					c.p.add(at, "{{ %s }} %s of step %s", ref.ref.raw, msg, s.ID)
				}
			}
		}
	}
	if s.Message.IsBlocks() {
		for i, b := range s.Message.Blocks {
			if b.Type == "text" {
				check(b.Text, pathIndex(pathKey(sp, "message"), i)+".text")
			}
		}
	} else {
		check(s.Message.Text, pathKey(sp, "message"))
	}
	if s.Condition != nil {
		c.checkCondition(*s.Condition, vis, pathKey(sp, "condition"), "step "+s.ID)
	}
}

// refProblem says why a parsed reference is not allowed here, or "".
func (c *flowChecker) refProblem(r refPath, vis visibility) string {
	switch r.root {
	case rootSteps:
		if _, ok := c.f.Step(r.step); !ok {
			return fmt.Sprintf("refers to unknown step %q", r.step)
		}
		if !vis.steps[r.step] {
			return fmt.Sprintf("refers to step %q, which is not an ancestor", r.step)
		}
	case rootLoops:
		l := c.loops[r.loop]
		if l == nil {
			return fmt.Sprintf("refers to unknown loop %q", r.loop)
		}
		if !vis.loops[r.loop] {
			return fmt.Sprintf("refers to loop %q, which is neither an ancestor nor an enclosing loop", r.loop)
		}
		if !c.body[r.loop][r.step] {
			return fmt.Sprintf("refers to step %q, which is not in the body of loop %q", r.step, r.loop)
		}
		if l.MaxIterations > 0 && uint64(r.iter) >= uint64(l.MaxIterations) {
			return fmt.Sprintf("refers to iteration %d, but loop %q runs at most %d", r.iter, r.loop, l.MaxIterations)
		}
	}
	return ""
}

func (c *flowChecker) checkCondition(cond Condition, vis visibility, at, owner string) {
	switch cond.Op {
	case OpEq, OpGt, OpLt, OpIn:
		r, err := parsePath(cond.Path)
		if err != nil {
			c.p.add(pathKey(at, "path"), "%s", trimPrefix(err))
			return
		}
		if msg := c.refProblem(r, vis); msg != "" {
			c.p.add(pathKey(at, "path"), "%q %s of %s", cond.Path, msg, owner)
		}
		if cond.Op == OpIn {
			if cond.Values == nil {
				c.p.add(pathKey(at, "values"), "required for op in")
			}
		} else if len(cond.Value) == 0 {
			c.p.add(pathKey(at, "value"), "required for op %s", cond.Op)
		} else if cond.Op != OpEq {
			v, err := decodeJSONValue(cond.Value)
			_, isNum := number(v)
			_, isStr := v.(string)
			if err != nil || (!isNum && !isStr) {
				c.p.add(pathKey(at, "value"), "op %s compares numbers or strings, got %s", cond.Op, cond.Value)
			}
		}
	case OpAnd, OpOr:
		for i, e := range cond.Exprs {
			c.checkCondition(e, vis, pathIndex(pathKey(at, "exprs"), i), owner)
		}
	case OpNot:
		if cond.Expr == nil {
			c.p.add(pathKey(at, "expr"), "required for op not")
			return
		}
		c.checkCondition(*cond.Expr, vis, pathKey(at, "expr"), owner)
	case "":
		c.p.add(pathKey(at, "op"), "required")
	default:
		c.p.add(pathKey(at, "op"), "unknown operator %q", cond.Op)
	}
}

// checkBranches checks the branch groups of a frame: members share their
// dependencies, at most one has no condition (the default), and a node that
// joins two or more members waits for any of them.
func (c *flowChecker) checkBranches(fp *FramePlan, nodePath func(string) string) {
	groups := map[string][]*PlanNode{}
	var names []string
	for _, n := range fp.Nodes {
		if n.Branch == "" {
			continue
		}
		if groups[n.Branch] == nil {
			names = append(names, n.Branch)
		}
		groups[n.Branch] = append(groups[n.Branch], n)
	}
	for _, b := range names {
		members := groups[b]
		want := depSet(members[0].DependsOn)
		unconditional := 0
		for _, m := range members {
			if depSet(m.DependsOn) != want {
				c.p.add(pathKey(nodePath(m.ID), "depends_on"), "branch %q: members must share the same dependencies (%s has [%s], %s has [%s])",
					b, members[0].ID, want, m.ID, depSet(m.DependsOn))
			}
			if m.Step != nil && m.Step.Condition == nil {
				unconditional++
				if unconditional == 2 {
					c.p.add(pathKey(nodePath(m.ID), "branch"), "branch %q: more than one member has no condition", b)
				}
			}
		}
	}
	for _, n := range fp.Nodes {
		count := map[string]int{}
		for _, d := range n.DependsOn {
			if br := fp.Node(d).Branch; br != "" {
				count[br]++
				if count[br] == 2 && n.Mode != DependAny {
					c.p.add(pathKey(nodePath(n.ID), "depends_on_mode"), "joins two or more members of branch %q, at most one of which runs: want depends_on_mode any", br)
				}
			}
		}
	}
}

func depSet(deps []string) string {
	s := append([]string(nil), deps...)
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// checkStepFields checks a step's own fields and resolves its schema.
func (c *flowChecker) checkStepFields(s *StepSpec) {
	sp := c.stepPath(s.ID)
	approval := s.IsApproval()
	switch {
	case approval && s.Role != "":
		c.p.add(pathKey(sp, "role"), "an approval step has no role")
	case !approval && s.Role == "":
		c.p.add(pathKey(sp, "role"), "required")
	case !approval && c.d != nil:
		if _, ok := c.d.Profiles[s.Role]; !ok {
			c.p.add(pathKey(sp, "role"), "unknown role %q (not a profile)", s.Role)
		}
	}
	cp := s.CollectionPolicy
	switch cp.Type {
	case "", CollectAll, CollectAny:
		if cp.N != 0 {
			c.p.add(sp+".collection_policy.n", "only allowed with type quorum")
		}
	case CollectQuorum:
		if cp.N == 0 {
			c.p.add(sp+".collection_policy.n", "quorum n must be between 1 and 255")
		}
	default:
		c.p.add(sp+".collection_policy.type", "unknown value %q (want all, any or quorum)", cp.Type)
	}
	if s.TimeoutMS != nil && *s.TimeoutMS == 0 {
		c.p.add(pathKey(sp, "timeout_ms"), "must be positive")
	}
	blocked := map[string]bool{}
	for _, t := range s.BlockedTools {
		blocked[t] = true
	}
	for i, t := range s.AllowedTools {
		if blocked[t] {
			c.p.add(pathIndex(pathKey(sp, "allowed_tools"), i), "tool %q is also blocked", t)
		}
	}
	if approval {
		if s.ExpectedSchemaRef != "" {
			c.p.add(pathKey(sp, "expected_schema_ref"), "not allowed on an approval step (its output is an approval decision)")
		}
		if s.DispatchMode != "" && s.DispatchMode != DispatchFanOut {
			c.p.add(pathKey(sp, "dispatch_mode"), "not allowed on an approval step")
		}
		if s.CollectionPolicy.Type != "" && s.CollectionPolicy.Type != CollectAll {
			c.p.add(pathKey(sp, "collection_policy"), "not allowed on an approval step")
		}
		if s.AllowedTools != nil || s.BlockedTools != nil {
			c.p.add(pathKey(sp, "allowed_tools"), "tool overlays are not allowed on an approval step")
		}
		if s.OutputFormat == OutputText {
			c.p.add(pathKey(sp, "output_format"), "an approval step's output is json")
		}
		s.ExpectedSchema = json.RawMessage(approvalSchema)
		return
	}
	c.resolveSchema(s, sp)
	if s.OutputFormat == OutputText && s.ExpectedSchemaRef != "" {
		c.p.add(pathKey(sp, "output_format"), "text output cannot be validated against expected_schema_ref: use json or drop the schema")
	}
}

// resolveSchema fills s.ExpectedSchema from s.ExpectedSchemaRef.
func (c *flowChecker) resolveSchema(s *StepSpec, sp string) {
	at := pathKey(sp, "expected_schema_ref")
	ref := s.ExpectedSchemaRef
	if ref == "" {
		s.ExpectedSchema = nil
		return
	}
	var text []byte
	switch {
	case isInlineRef(ref):
		text = []byte(ref)
	case len(s.ExpectedSchema) > 0 && c.schemas == nil:
		text = s.ExpectedSchema // resolved by an earlier load
	case c.schemas == nil:
		c.p.add(at, "named schema %q cannot be resolved: no base directory (use LoadFile, or LoadOptions.Schemas)", ref)
		return
	default:
		name := path.Clean(strings.ReplaceAll(ref, "\\", "/"))
		if !fs.ValidPath(name) {
			c.p.add(at, "named schema %q must be a relative path inside the definition's directory", ref)
			return
		}
		b, err := fs.ReadFile(c.schemas, name)
		if err != nil {
			c.p.add(at, "named schema %q: %v", ref, unwrapPathErr(err))
			return
		}
		text = b
	}
	canon, err := canonicalJSON(text)
	if err != nil {
		c.p.add(at, "schema is not valid JSON: %v", err)
		return
	}
	if _, err := CompileSchema(canon); err != nil {
		c.p.add(at, "%s", trimPrefix(err))
		return
	}
	s.ExpectedSchema = canon
}

// checkExtensions checks the mobd extensions of the flow and its steps.
func (c *flowChecker) checkExtensions() {
	var runBudget *Budget
	if c.f.Mobd != nil && c.f.Mobd.Budget != nil {
		runBudget = c.f.Mobd.Budget
		checkBudget(c.p, *runBudget, nil, c.path+".mobd.budget")
	}
	for i := range c.f.Steps {
		s := &c.f.Steps[i]
		if s.Mobd == nil {
			continue
		}
		at := pathKey(c.stepPath(s.ID), "mobd")
		if r := s.Mobd.Retry; r != nil {
			rp := pathKey(at, "retry")
			if r.Attempts == 0 {
				c.p.add(pathKey(rp, "attempts"), "must be at least 1 (the first attempt counts)")
			}
			if r.MaxBackoffMS > 0 && r.InitialBackoffMS > r.MaxBackoffMS {
				c.p.add(pathKey(rp, "max_backoff_ms"), "smaller than initial_backoff_ms")
			}
			if r.Multiplier != 0 && r.Multiplier < 1 {
				c.p.add(pathKey(rp, "multiplier"), "must be at least 1")
			}
			seen := map[FailureClass]bool{}
			for j, fc := range r.RetryOn {
				if seen[fc] {
					c.p.add(pathIndex(pathKey(rp, "retry_on"), j), "duplicate failure class %q", fc)
				}
				seen[fc] = true
			}
		}
		if b := s.Mobd.Budget; b != nil {
			checkBudget(c.p, *b, runBudget, pathKey(at, "budget"))
		}
		if a := s.Mobd.Approval; a != nil && s.Mobd.Retry != nil {
			c.p.add(pathKey(at, "retry"), "an approval step is not retried")
		}
	}
}

func checkBudget(p *problems, b Budget, run *Budget, at string) {
	if b == (Budget{}) {
		p.add(at, "set at least one of max_tokens, max_input_tokens, max_output_tokens")
	}
	if run == nil {
		return
	}
	for _, x := range []struct {
		name      string
		step, max uint64
	}{{"max_tokens", b.MaxTokens, run.MaxTokens}, {"max_input_tokens", b.MaxInputTokens, run.MaxInputTokens}, {"max_output_tokens", b.MaxOutputTokens, run.MaxOutputTokens}} {
		if x.max > 0 && x.step > x.max {
			p.add(pathKey(at, x.name), "%d exceeds the run budget of %d", x.step, x.max)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// trimPrefix drops the "flows: " prefix of this package's errors when they
// become a FieldError message.
func trimPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "flows: ")
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
