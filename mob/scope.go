package mob

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mobd-dev/mobd/flows"
)

// RunScope is what a run's templates and conditions see, built from the
// run's events in journal order: the run's params, each step's latest
// output, and each loop's iterations. The run's executor keeps one, and
// anything replaying a run's journal (to show what a step was sent) builds
// the same one.
//
// A step inside a loop body sees the outputs of its own iteration only:
// when an iteration starts, the outputs of the body's steps and nested
// loops from the previous iteration are dropped, so a step the iteration
// skips renders as null and the until condition cannot hold on an earlier
// iteration's output.
type RunScope struct {
	plan  *flows.Plan
	scope flows.Scope
}

// NewRunScope returns the scope of a run of plan with params (JSON text;
// empty for none). Numbers in params keep their exact digits.
func NewRunScope(plan *flows.Plan, params json.RawMessage) *RunScope {
	var p any
	if len(params) > 0 {
		// Kept as JSON text: the template and condition paths decode it
		// exactly, as they do step outputs, where decoding to any would
		// round large integers through float64.
		p = params
	}
	return &RunScope{plan: plan, scope: flows.Scope{Params: p, Steps: map[string]any{}, Loops: map[string][]map[string]any{}}}
}

// Scope returns the scope as it stands. Its maps are the RunScope's: a
// caller that changes them must clone them first.
func (s *RunScope) Scope() flows.Scope { return s.scope }

// Apply adds what ev changes to the scope: a completed step's output, or
// a loop iteration's start. Other events change nothing.
func (s *RunScope) Apply(ev *Event) {
	switch ev.Type {
	case EventStepCompleted:
		var v any
		if ev.Output != nil {
			v = ev.Output
		}
		s.scope.Steps[ev.Step] = v
		if loop, it, ok := innermostLoop(ev.Frame); ok {
			s.iteration(loop, it)[ev.Step] = v
		}
	case EventLoopIterationStarted:
		if n := s.loopNode(ev.Frame, ev.Loop); n != nil {
			s.forget(n.Loop.Body)
		}
		s.scope.Loops[ev.Loop] = s.scope.Loops[ev.Loop][:min(ev.Iteration, len(s.scope.Loops[ev.Loop]))]
		s.iteration(ev.Loop, ev.Iteration)
	}
}

// iteration returns the outputs of a loop's iteration, adding the
// iterations up to it.
func (s *RunScope) iteration(loop string, it int) map[string]any {
	iters := s.scope.Loops[loop]
	for len(iters) <= it {
		iters = append(iters, map[string]any{})
	}
	s.scope.Loops[loop] = iters
	return iters[it]
}

// forget drops the outputs of a frame's steps and nested loops.
func (s *RunScope) forget(fp *flows.FramePlan) {
	if fp == nil {
		return
	}
	for _, n := range fp.Nodes {
		switch {
		case n.Step != nil:
			delete(s.scope.Steps, n.Name())
		case n.Loop != nil:
			delete(s.scope.Loops, n.Name())
			s.forget(n.Loop.Body)
		}
	}
}

// loopNode returns the plan node of the loop with the given id in frame.
func (s *RunScope) loopNode(frame, loop string) *flows.PlanNode {
	if s.plan == nil {
		return nil
	}
	fp := framePlan(s.plan, frame)
	if fp == nil {
		return nil
	}
	return fp.LoopNode(loop)
}

// framePlan returns the plan of a frame key ("" is the root frame; a loop
// body's key is "loop#iteration", nested ones joined by "/").
func framePlan(plan *flows.Plan, frame string) *flows.FramePlan {
	fp := plan.Root
	if frame == "" {
		return fp
	}
	for part := range strings.SplitSeq(frame, "/") {
		loop, _, _ := strings.Cut(part, "#")
		n := fp.LoopNode(loop)
		if n == nil {
			return nil
		}
		fp = n.Loop.Body
	}
	return fp
}

// bodyFrame returns the key of a loop iteration's body frame.
func bodyFrame(frame, loop string, iteration int) string {
	k := fmt.Sprintf("%s#%d", loop, iteration)
	if frame != "" {
		k = frame + "/" + k
	}
	return k
}

// innermostLoop parses the innermost "loop#iteration" of a frame key.
func innermostLoop(frame string) (loop string, iteration int, ok bool) {
	if frame == "" {
		return "", 0, false
	}
	last := frame[strings.LastIndexByte(frame, '/')+1:]
	loop, it, ok := strings.Cut(last, "#")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(it)
	if err != nil {
		return "", 0, false
	}
	return loop, n, true
}
