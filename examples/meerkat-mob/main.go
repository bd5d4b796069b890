// Command meerkat-mob runs a Meerkat mob definition, exactly as Meerkat
// writes it, on mobd's own actors. The embedded incident mob is given twice,
// as incident.json and as incident.toml (the TOML form keeps id and
// orchestrator in a [mob] table); the example loads both, shows that they
// load to equal models, creates the mob, spawns members for every profile
// (the orchestrator first), runs the flow "respond" and prints the step
// ledger, the outputs and the token accounting.
//
// The definition has an orchestrator, three profiles, wiring rules, a strict
// topology, a supervisor, limits, and a flow with dependencies, a fan-out
// step, structured-output steps (an inline schema and a named one,
// schemas/report.json), and a branch whose condition reads both a step's
// structured output and the run's params.
//
//	MEERKAT_BIN_PATH=bin/rkat-sim go run ./examples/meerkat-mob
//	MEERKAT_BIN_PATH=bin/rkat-sim go run ./examples/meerkat-mob quiet=true incident="disk full on db-3"
//	MEERKAT_BIN_PATH=bin/rkat-sim go run ./examples/meerkat-mob -def my-mob.toml -flow review topic=CI
//
// Arguments are the run's params as key=value; a value that is valid JSON
// (true, 3, ["a"]) is taken as JSON, anything else as a string. Flags: -def
// runs any definition file (.json or .toml; named schema refs resolve in its
// directory) instead of the embedded one; -flow picks the flow (default: the
// definition's only flow); -spawn sets members per profile, as
// profile=count,... (default: one per profile; the incident mob has two
// investigators).
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// files holds the incident mob in both formats and the schema its report
// step names.
//
//go:embed incident.json incident.toml schemas/report.json
var files embed.FS

func main() {
	defPath := flag.String("def", "", "run this definition file (.json or .toml) instead of the embedded incident mob")
	flowID := flag.String("flow", "", "flow to run (default: the definition's only flow)")
	spawn := flag.String("spawn", "", "members per profile, as profile=count,... (default: one per profile)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-def file] [-flow id] [-spawn profile=n,...] [key=value ...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	params, err := parseParams(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "meerkat-mob:", err)
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *defPath, *flowID, *spawn, params); err != nil {
		// A *flows.ValidationError lists every problem, one per line.
		fmt.Fprintln(os.Stderr, "meerkat-mob:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, defPath, flowID, spawn string, params map[string]any) (err error) {
	var def *flows.Definition
	counts := map[string]int{}
	if defPath == "" {
		if def, err = loadEmbedded(); err != nil {
			return err
		}
		counts["investigator"] = 2
		if _, ok := params["incident"]; !ok {
			params["incident"] = "checkout latency doubled after the 14:00 deploy"
		}
	} else {
		if def, err = flows.LoadFile(defPath); err != nil {
			return err
		}
		fmt.Printf("loaded %s: mob %s, profiles %v, flows %v\n", defPath, def.ID,
			slices.Sorted(maps.Keys(def.Profiles)), slices.Sorted(maps.Keys(def.Flows)))
	}
	if err := parseCounts(spawn, counts); err != nil {
		return err
	}
	for p := range counts {
		if _, ok := def.Profiles[p]; !ok {
			return fmt.Errorf("-spawn: mob %s has no profile %q", def.ID, p)
		}
	}
	if flowID == "" {
		if len(def.Flows) == 0 {
			return fmt.Errorf("mob %s has no flows", def.ID)
		}
		if len(def.Flows) > 1 {
			return fmt.Errorf("mob %s has flows %v: pick one with -flow", def.ID, slices.Sorted(maps.Keys(def.Flows)))
		}
		for id := range def.Flows {
			flowID = id
		}
	}
	if _, ok := def.Flow(flowID); !ok {
		return fmt.Errorf("mob %s has no flow %q (it has %v)", def.ID, flowID, slices.Sorted(maps.Keys(def.Flows)))
	}

	j, err := journal.Open(ctx, ":memory:", journal.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := j.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	// The engine resolves the runtime like every example: MEERKAT_BIN_PATH,
	// else rkat-rpc on PATH.
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

	m, err := mob.Create(ctx, def, mob.Config{Host: mob.EngineHost(engine), Journal: j})
	if err != nil {
		return err
	}
	defer m.Close()
	if err := spawnMembers(ctx, m, counts); err != nil {
		return err
	}

	fmt.Printf("\nrunning flow %s with params %s\n", flowID, mustJSON(params))
	r, err := m.RunFlow(ctx, flowID, params, mob.RunOptions{})
	if err != nil {
		return err
	}
	snap, runErr := r.Wait(ctx)
	if errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded) {
		return runErr
	}
	spec, _ := def.Flow(flowID)
	report(spec, snap)
	return runErr
}

// loadEmbedded loads the incident mob from its JSON and its TOML form and
// checks that they are the same model.
func loadEmbedded() (*flows.Definition, error) {
	load := func(name string, format flows.Format) (*flows.Definition, error) {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		// Named schema refs ("schemas/report.json") resolve in files.
		def, err := flows.Load(data, format, flows.LoadOptions{Schemas: files})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return def, nil
	}
	fromJSON, err := load("incident.json", flows.FormatJSON)
	if err != nil {
		return nil, err
	}
	fromTOML, err := load("incident.toml", flows.FormatTOML)
	if err != nil {
		return nil, err
	}
	a, err := fromJSON.MarshalJSON()
	if err != nil {
		return nil, err
	}
	b, err := fromTOML.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if !reflect.DeepEqual(fromJSON, fromTOML) || !bytes.Equal(a, b) {
		return nil, fmt.Errorf("incident.json and incident.toml load to different models:\n%s\n%s", a, b)
	}
	fmt.Printf("incident.json and incident.toml load to equal models (reflect.DeepEqual, and %d identical bytes of MarshalJSON)\n", len(a))
	if _, err := fromJSON.MeerkatJSON(); err != nil {
		return nil, err
	}
	fmt.Println("the definition uses no mobd extension: Definition.MeerkatJSON accepts it")
	spec, _ := fromJSON.Flow("respond")
	plan, err := spec.Plan()
	if err != nil {
		return nil, err
	}
	fmt.Printf("mob %s: orchestrator %s, profiles %v, topology %s, supervisor %s, flow respond:",
		fromJSON.ID, fromJSON.Orchestrator.Profile, slices.Sorted(maps.Keys(fromJSON.Profiles)), fromJSON.Topology.Mode, fromJSON.Supervisor.Role)
	for _, n := range plan.Root.Nodes {
		fmt.Printf(" %s", n.ID)
	}
	fmt.Println()
	return fromJSON, nil
}

// spawnMembers spawns counts[profile] members of every profile (default
// one), the orchestrator's first, and prints the roster with its wiring.
func spawnMembers(ctx context.Context, m *mob.Mob, counts map[string]int) error {
	def := m.Definition()
	profiles := slices.Sorted(maps.Keys(def.Profiles))
	if o := def.Orchestrator; o != nil {
		i := slices.Index(profiles, o.Profile)
		profiles = append(append([]string{o.Profile}, profiles[:i]...), profiles[i+1:]...)
	}
	var specs []mob.SpawnSpec
	for _, p := range profiles {
		n, ok := counts[p]
		if !ok {
			n = 1
		}
		for i := range n {
			id := p
			if n > 1 {
				id = fmt.Sprintf("%s-%d", p, i+1)
			}
			specs = append(specs, mob.SpawnSpec{Profile: p, Identity: id})
		}
	}
	if _, err := m.SpawnMany(ctx, specs); err != nil {
		return err
	}
	fmt.Println("\nmembers:")
	for _, id := range m.Members() {
		info, err := m.MemberStatus(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("  %-15s %-13s %-7s peers %v\n", info.Identity, info.Profile, info.Status, info.Peers)
	}
	return nil
}

// report prints a run's step ledger, outputs, failures and accounting.
func report(spec flows.FlowSpec, snap mob.Snapshot) {
	fmt.Printf("\nflow %s: %s", spec.ID, snap.Status)
	if snap.Reason != "" {
		fmt.Printf(" (%s)", snap.Reason)
	}
	fmt.Printf(" in %s\n", snap.EndedAt.Sub(snap.StartedAt).Round(time.Millisecond))

	fmt.Println("\nstep ledger:")
	for _, st := range snap.Steps {
		var detail []string
		for _, t := range st.Targets {
			d := fmt.Sprintf("%s %s", t.AgentIdentity, t.Status)
			if t.Attempts > 1 {
				d += fmt.Sprintf(" after %d attempts", t.Attempts)
			}
			if t.Error != "" {
				d += ": " + t.Error
			}
			detail = append(detail, d)
		}
		if st.Reason != "" {
			detail = append(detail, st.Reason)
		}
		fmt.Printf("  %-12s %-10s %s\n", st.StepID, st.Status, strings.Join(detail, "; "))
	}
	for _, f := range snap.Failures {
		who := ""
		if f.Member != "" {
			who = fmt.Sprintf(" (%s, attempt %d)", f.Member, f.Attempt)
		}
		fmt.Printf("  failure: %s%s: %s: %s\n", f.StepID, who, f.Reason, f.Error)
	}

	fmt.Println("\noutputs:")
	targets := map[string][]mob.TargetRecord{}
	for _, st := range snap.Steps {
		targets[st.StepID] = st.Targets
	}
	for _, st := range spec.Steps {
		out, ok := snap.Outputs[st.ID]
		if !ok {
			continue
		}
		if ts := targets[st.ID]; len(ts) > 1 {
			// A step with several targets: show each member's part.
			fmt.Printf("  %-12s (%s, %d targets)\n", st.ID, st.OutputFormat, len(ts))
			for _, t := range ts {
				if t.Output != nil {
					fmt.Printf("    %-14s %s\n", t.AgentIdentity, showOutput(st.OutputFormat, t.Output))
				}
			}
			continue
		}
		fmt.Printf("  %-12s (%s) %s\n", st.ID, st.OutputFormat, showOutput(st.OutputFormat, out))
	}

	u := snap.Accounting.UsageTotal
	fmt.Printf("\nusage: %d input + %d output tokens over %d members\n", u.InputTokens, u.OutputTokens, len(snap.Accounting.Members))
}

// parseParams turns key=value arguments into params.
func parseParams(args []string) (map[string]any, error) {
	params := map[string]any{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("param %q is not key=value", a)
		}
		if json.Valid([]byte(v)) {
			params[k] = json.RawMessage(v)
		} else {
			params[k] = v
		}
	}
	return params, nil
}

// parseCounts reads "profile=n,..." into counts.
func parseCounts(s string, counts map[string]int) error {
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		p, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return fmt.Errorf("-spawn: %q is not profile=count", part)
		}
		counts[p] = n
	}
	return nil
}

// showOutput formats an output for the terminal: text quoted, JSON as is,
// both cut short.
func showOutput(format flows.OutputFormat, out json.RawMessage) string {
	var text string
	if format == flows.OutputText && json.Unmarshal(out, &text) == nil {
		return strconv.Quote(truncate(text, 100))
	}
	return truncate(string(out), 200)
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
