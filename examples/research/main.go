// Command research runs a research flow defined in Go with the typed DSL of
// package flows on a mob of mobd's own actors: a lead plans the research
// (structured output Plan), three analysts dig into it in parallel (fan-out,
// each answering a structured Finding), and the lead synthesises a Report.
// It follows the run live through the mob's event log (Mob.Subscribe), then
// prints the typed outputs (mob.Output), the step ledger and the token
// accounting, and whether the flow is expressible as Meerkat JSON.
//
//	MEERKAT_BIN_PATH=bin/rkat-sim go run ./examples/research
//
// Flags: -subject (the research subject), -analysts (how many to spawn),
// -retry N (give the dig step a mobd retry policy of N attempts, a mobd
// extension: the flow is then no longer expressible as Meerkat JSON), -json
// (print the flow's Meerkat JSON) and -keep (keep the on-disk journal,
// whose path is printed, instead of removing it at exit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// Topic is the run's params.
type Topic struct {
	Subject string `json:"subject" desc:"What to research"`
}

// Plan is the lead's research plan.
type Plan struct {
	Questions []string `json:"questions" desc:"The questions the analysts should answer"`
}

// Finding is one analyst's answer.
type Finding struct {
	Question string   `json:"question" desc:"The question answered"`
	Answer   string   `json:"answer"`
	Sources  []string `json:"sources" desc:"Where the answer comes from"`
}

// Report is the lead's synthesis.
type Report struct {
	Summary string `json:"summary"`
	Sources int    `json:"sources" desc:"How many distinct sources the findings cite"`
}

// definition is the mob the flow runs on: a lead (the orchestrator) and
// analysts, wired to the lead.
func definition() *flows.Definition {
	return &flows.Definition{
		ID:           "research",
		Orchestrator: &flows.Orchestrator{Profile: "lead"},
		Profiles: map[string]flows.Profile{
			"lead": {
				Model: "claude-opus-4-8", Provider: flows.ProviderAnthropic,
				PeerDescription: "Plans the research and writes the report",
			},
			"analyst": {
				Model: "claude-sonnet-4-6", Provider: flows.ProviderAnthropic,
				PeerDescription: "Answers research questions with sources",
				Tools:           flows.ToolConfig{Builtins: true},
			},
		},
		Wiring: flows.WiringRules{AutoWireOrchestrator: true},
	}
}

// researchFlow is plan → dig (fan-out to every analyst) → synthesise (a
// fan-in: one dispatch to the lead, reading every finding).
func researchFlow(retry uint32) (*flows.Flow[Topic], flows.Ref[Plan], flows.Ref[Finding], flows.Ref[Report]) {
	f := flows.NewFlow[Topic]("research").Describe("Plan, dig in parallel, synthesise")
	plan := flows.Step[Plan](f, "plan", "lead",
		flows.Text("Plan research on "+f.Params().Field("subject")+": list the questions to answer."),
		flows.Timeout(2*time.Minute))
	digOpts := []flows.StepOption{flows.FanOut(), flows.Timeout(5 * time.Minute)}
	if retry > 1 {
		digOpts = append(digOpts, flows.Retry(flows.RetryPolicy{Attempts: retry}))
	}
	dig := flows.Then[Finding](f, plan, "dig", "analyst", func(p flows.Ref[Plan]) flows.Message {
		return flows.Text("Research " + f.Params().Field("subject") + ". Answer one of these questions, with sources: " + p.Field("questions"))
	}, digOpts...)
	report := flows.Then[Report](f, dig, "synthesise", "lead", func(d flows.Ref[Finding]) flows.Message {
		return flows.Text("Synthesise a report on " + f.Params().Field("subject") + " from these findings: " + d.String())
	}, flows.FanIn(), flows.Timeout(2*time.Minute))
	return f, plan, dig, report
}

func main() {
	subject := flag.String("subject", "the history of the Rust borrow checker", "research subject")
	analysts := flag.Int("analysts", 3, "analysts to spawn")
	retry := flag.Uint("retry", 0, "attempts of the dig step (a mobd extension when > 1)")
	printJSON := flag.Bool("json", false, "print the flow's Meerkat JSON")
	keep := flag.Bool("keep", false, "keep the journal file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *subject, *analysts, uint32(*retry), *printJSON, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "research:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, subject string, analysts int, retry uint32, printJSON, keep bool) (err error) {
	f, planRef, digRef, reportRef := researchFlow(retry)
	spec, err := f.Spec()
	if err != nil {
		return err
	}
	if raw, err := f.MeerkatJSON(); err == nil {
		fmt.Printf("flow %s is expressible as Meerkat JSON (%d bytes)\n", spec.ID, len(raw))
		if printJSON {
			fmt.Println(string(raw))
		}
	} else if errors.Is(err, flows.ErrNotExpressible) {
		fmt.Printf("flow %s is not expressible as Meerkat JSON: %v\n", spec.ID, err)
	} else {
		return err
	}

	// The journal: every mob, member and flow transition is recorded in it.
	dir, err := os.MkdirTemp("", "mobd-research-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, "journal.db")
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := j.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	fmt.Println("journal:", path)

	// The engine: supervised runtime processes (MEERKAT_BIN_PATH, else
	// rkat-rpc on PATH) hosting the members as actors.
	engine, err := actors.Start(ctx, actors.Config{PoolSize: 2})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := engine.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}()

	m, err := mob.Create(ctx, definition(), mob.Config{Host: mob.EngineHost(engine), Journal: j})
	if err != nil {
		return err
	}
	defer m.Close()

	// Follow the mob live from its first event until the run ends.
	var followErr error
	followed := make(chan struct{})
	fctx, cancelFollow := context.WithCancel(ctx)
	go func() {
		defer close(followed)
		followErr = follow(fctx, m)
	}()
	defer func() {
		cancelFollow()
		<-followed
	}()

	specs := []mob.SpawnSpec{{Profile: "lead", Identity: "lead"}}
	for i := range analysts {
		specs = append(specs, mob.SpawnSpec{Profile: "analyst", Identity: fmt.Sprintf("analyst-%d", i+1)})
	}
	if _, err := m.SpawnMany(ctx, specs); err != nil {
		return err
	}

	r, err := m.RunSpec(ctx, spec, Topic{Subject: subject}, mob.RunOptions{})
	if err != nil {
		return err
	}
	snap, runErr := r.Wait(ctx)
	<-followed
	if followErr != nil {
		return followErr
	}
	fmt.Printf("\nrun %s: %s\n", snap.RunID, snap.Status)
	printLedger(snap)
	if runErr != nil {
		return runErr
	}

	plan, err := mob.Output(r, planRef)
	if err != nil {
		return err
	}
	fmt.Printf("\nplan: questions %q\n", plan.Questions)
	// A fan-out step's output is the array of its targets' outputs (in
	// member order); TargetOutputs decodes each member's, with the step's
	// type.
	fmt.Println("findings:")
	findings, err := mob.TargetOutputs(r, digRef)
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(findings)) {
		fd := findings[id]
		fmt.Printf("  %s on %q: %q (sources %q)\n", id, fd.Question, fd.Answer, fd.Sources)
	}
	report, err := mob.Output(r, reportRef)
	if err != nil {
		return err
	}
	fmt.Printf("report: %+v\n", report)

	fmt.Printf("\nusage (%s): %d input + %d output tokens\n", snap.Accounting.Attribution,
		snap.Accounting.UsageTotal.InputTokens, snap.Accounting.UsageTotal.OutputTokens)
	for _, id := range slices.Sorted(maps.Keys(snap.Accounting.Members)) {
		u := snap.Accounting.Members[id]
		fmt.Printf("  %-10s %5d input %5d output  session %s\n", id, u.InputTokens, u.OutputTokens, snap.Accounting.MemberSessionIDs[id])
	}
	return nil
}

// follow prints the mob's events as they are journalled, until a flow run
// ends.
func follow(ctx context.Context, m *mob.Mob) error {
	for ev, err := range m.Subscribe(ctx, 0) {
		if err != nil {
			return err
		}
		switch ev.Type {
		case mob.EventMobCreated:
			fmt.Printf("mob %s created\n", ev.Mob)
		case mob.EventMemberSpawned:
			fmt.Printf("member %s spawned (%s)\n", ev.Member, ev.Role)
		case mob.EventMembersWired:
			fmt.Printf("wired %s <-> %s\n", ev.Member, ev.Peer)
		case mob.EventFlowStarted:
			fmt.Printf("flow %s started: run %s, params %s\n", ev.Flow, ev.Run, ev.Params)
		case mob.EventStepDispatched:
			fmt.Printf("step %s dispatched to %s (attempt %d)\n", ev.Step, ev.Member, ev.Attempt)
		case mob.EventStepTargetCompleted:
			fmt.Printf("step %s: %s answered (%d tokens)\n", ev.Step, ev.Member, ev.Usage.Total())
		case mob.EventStepTargetFailed:
			fmt.Printf("step %s: %s failed: %s: %s\n", ev.Step, ev.Member, ev.Class, ev.Error)
		case mob.EventStepRetryScheduled:
			fmt.Printf("step %s: %s retries in %dms\n", ev.Step, ev.Member, ev.DelayMS)
		case mob.EventStepCompleted:
			fmt.Printf("step %s completed\n", ev.Step)
		case mob.EventStepFailed:
			fmt.Printf("step %s failed: %s\n", ev.Step, ev.Error)
		case mob.EventStepSkipped:
			fmt.Printf("step %s skipped: %s\n", ev.Step, ev.Reason)
		case mob.EventFlowCompleted, mob.EventFlowFailed, mob.EventFlowCanceled:
			if ev.Reason != "" {
				fmt.Printf("flow %s %s: %s\n", ev.Flow, strings.TrimPrefix(ev.Type, "flow_"), ev.Reason)
			} else {
				fmt.Printf("flow %s %s\n", ev.Flow, strings.TrimPrefix(ev.Type, "flow_"))
			}
			return nil
		}
	}
	return nil
}

func printLedger(snap mob.Snapshot) {
	fmt.Println("step ledger:")
	for _, st := range snap.Steps {
		var who []string
		for _, t := range st.Targets {
			who = append(who, fmt.Sprintf("%s=%s/%d", t.AgentIdentity, t.Status, t.Attempts))
		}
		fmt.Printf("  %-10s %-9s %s\n", st.StepID, st.Status, strings.Join(who, " "))
	}
	for _, f := range snap.Failures {
		who := ""
		if f.Member != "" {
			who = fmt.Sprintf(" (%s, attempt %d)", f.Member, f.Attempt)
		}
		fmt.Printf("  failure: %s%s: %s: %s\n", f.StepID, who, f.Reason, f.Error)
	}
}
