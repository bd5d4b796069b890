package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mobd-dev/mobd/server"
)

// event is the part of a journal event (mob.Event) the CLI shows.
type event struct {
	Cursor    uint64          `json:"cursor"`
	Mob       string          `json:"mob_id"`
	Type      string          `json:"type"`
	At        time.Time       `json:"at"`
	Run       string          `json:"run_id"`
	Flow      string          `json:"flow_id"`
	Frame     string          `json:"frame"`
	Step      string          `json:"step_id"`
	Member    string          `json:"member"`
	Peer      string          `json:"peer"`
	Attempt   int             `json:"attempt"`
	Output    json.RawMessage `json:"output"`
	Class     string          `json:"class"`
	Error     string          `json:"error"`
	Reason    string          `json:"reason"`
	Text      string          `json:"text"`
	DelayMS   int64           `json:"delay_ms"`
	Iteration int             `json:"iteration"`
	Loop      string          `json:"loop_id"`
	Decision  *decision       `json:"decision"`
}

// decision is an approval step's decision, as an event carries it.
type decision struct {
	Approved bool   `json:"approved"`
	By       string `json:"by"`
	Comment  string `json:"comment"`
}

// snapshot is the part of a run snapshot the CLI shows.
type snapshot struct {
	RunID      string                     `json:"run_id"`
	FlowID     string                     `json:"flow_id"`
	Status     string                     `json:"status"`
	Reason     string                     `json:"reason"`
	StartedAt  time.Time                  `json:"started_at"`
	EndedAt    time.Time                  `json:"ended_at"`
	Outputs    map[string]json.RawMessage `json:"outputs"`
	Accounting struct {
		UsageTotal struct {
			InputTokens  uint64 `json:"input_tokens"`
			OutputTokens uint64 `json:"output_tokens"`
		} `json:"usage_total"`
	} `json:"accounting"`
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("run")
	params := f.fs.String("params", "{}", "run params (a JSON object)")
	runID := f.fs.String("run-id", "", "run id, the start's idempotency key: reusable only for the same flow and params (default: a fresh one)")
	follow := f.fs.Bool("follow", false, "show the run's steps live, then its outputs")
	pos, err := f.parse(args, 2)
	if err != nil {
		return err
	}
	if !json.Valid([]byte(*params)) {
		return fmt.Errorf("%w: --params is not valid JSON", errUsage)
	}
	c := f.client()
	var snap snapshot
	raw, status, err := c.postJSONStatus(ctx, "/v1/mobs/"+seg(pos[0])+"/flows/"+seg(pos[1])+"/runs",
		map[string]any{"params": json.RawMessage(*params), "run_id": *runID}, &snap)
	if err != nil {
		return err
	}
	if !*follow {
		if f.json() {
			return printJSON(stdout, raw)
		}
		what := "started"
		if status == http.StatusOK { // a replay: 201 is a start
			what = "was already started with these params"
		}
		fmt.Fprintf(stdout, "run %s of flow %s %s (%s)\n", snap.RunID, snap.FlowID, what, snap.Status)
		return nil
	}
	return followRun(ctx, c, pos[0], snap.RunID, f.json(), stdout)
}

// followRun shows a run's progress from its events (reconnecting across
// daemon restarts), then its final snapshot and outputs.
func followRun(ctx context.Context, c *client, mobID, runID string, asJSON bool, stdout io.Writer) error {
	q := url.Values{"mob": {mobID}, "run": {runID}}
	dispatched := map[string]time.Time{}
	var started time.Time
	// The approvers of the run's approval steps, by step id, read from the
	// run's graph when a step first awaits a decision.
	var approvers map[string][]string
	approversOf := func(step string) []string {
		if approvers == nil {
			approvers = map[string][]string{}
			var g server.RunGraph
			if _, err := c.getJSON(ctx, "/v1/mobs/"+seg(mobID)+"/runs/"+seg(runID)+"/graph", &g); err == nil {
				for _, n := range g.Graph.Nodes {
					if n.StepID != "" && n.Approval != nil && len(n.Approval.Approvers) > 0 {
						approvers[n.StepID] = n.Approval.Approvers
					}
				}
			}
		}
		return approvers[step]
	}
	err := c.events(ctx, q, 0, true, func(se sseEvent) error {
		var ev event
		err := json.Unmarshal(se.Data, &ev)
		switch {
		case asJSON:
			fmt.Fprintf(stdout, "%s\n", se.Data)
		case err != nil:
			fmt.Fprintf(stdout, "  (event %s, which this client cannot read: %v)\n", se.ID, err)
		case ev.Type == "mobd_approval_requested":
			progressLine(stdout, ev, dispatched, &started, approversOf(ev.Step))
		default:
			progressLine(stdout, ev, dispatched, &started, nil)
		}
		switch ev.Type {
		case "flow_completed", "flow_failed", "flow_canceled":
			return errStop
		}
		return nil
	})
	if err != nil {
		return err
	}
	var snap snapshot
	raw, err := c.getJSON(ctx, "/v1/mobs/"+seg(mobID)+"/runs/"+seg(runID), &snap)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, raw)
	}
	fmt.Fprintf(stdout, "run %s %s", snap.RunID, snap.Status)
	if !snap.EndedAt.IsZero() {
		fmt.Fprintf(stdout, " in %s", snap.EndedAt.Sub(snap.StartedAt).Round(time.Millisecond))
	}
	fmt.Fprintf(stdout, " (tokens: %d in, %d out)\n", snap.Accounting.UsageTotal.InputTokens, snap.Accounting.UsageTotal.OutputTokens)
	if snap.Reason != "" {
		fmt.Fprintf(stdout, "reason: %s\n", snap.Reason)
	}
	if len(snap.Outputs) > 0 {
		fmt.Fprintln(stdout, "outputs:")
		keys := make([]string, 0, len(snap.Outputs))
		for k := range snap.Outputs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(stdout, "  %s: %s\n", k, outputText(snap.Outputs[k]))
		}
	}
	if snap.Status != "completed" {
		return fmt.Errorf("run %s %s", snap.RunID, snap.Status)
	}
	return nil
}

// outputText renders a step output: a JSON string as its text, anything
// else as compact JSON.
func outputText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// progressLine prints one line of the live view of a run for ev;
// approvers are those of the step of an mobd_approval_requested event.
func progressLine(w io.Writer, ev event, dispatched map[string]time.Time, started *time.Time, approvers []string) {
	step := ev.Step
	if ev.Frame != "" {
		step = ev.Frame + "/" + ev.Step
	}
	ts := ev.At.Local().Format("15:04:05")
	switch ev.Type {
	case "flow_started":
		*started = ev.At
		fmt.Fprintf(w, "%s ▶ run %s of flow %s started\n", ts, ev.Run, ev.Flow)
	case "step_dispatched":
		if _, ok := dispatched[step]; !ok {
			dispatched[step] = ev.At
		}
		attempt := ""
		if ev.Attempt > 1 {
			attempt = " (attempt " + strconv.Itoa(ev.Attempt) + ")"
		}
		fmt.Fprintf(w, "%s   → %s dispatched to %s%s\n", ts, step, ev.Member, attempt)
	case "step_target_failed":
		fmt.Fprintf(w, "%s   ! %s: %s failed: %s\n", ts, step, ev.Member, ev.Error)
	case "step_completed":
		fmt.Fprintf(w, "%s   ✓ %s completed%s: %s\n", ts, step, since(dispatched, step, ev.At), clip(outputText(ev.Output), 80))
	case "step_failed":
		fmt.Fprintf(w, "%s   ✗ %s failed%s: %s %s\n", ts, step, since(dispatched, step, ev.At), ev.Class, ev.Error)
	case "step_skipped":
		fmt.Fprintf(w, "%s   · %s skipped: %s\n", ts, step, ev.Reason)
	case "mobd_step_retry_scheduled":
		fmt.Fprintf(w, "%s   ↻ %s retry in %dms\n", ts, step, ev.DelayMS)
	case "mobd_approval_requested":
		fmt.Fprintf(w, "%s   ⏸ %s awaits approval: %s (%s)\n", ts, step, ev.Text, approveHint(ev, approvers))
	case "mobd_approval_decided":
		verdict := "decided"
		if d := ev.Decision; d != nil {
			verdict = "rejected"
			if d.Approved {
				verdict = "approved"
			}
			if d.By != "" {
				verdict += " by " + d.By
			}
			if d.Comment != "" {
				verdict += ": " + clip(d.Comment, 80)
			}
		}
		fmt.Fprintf(w, "%s   ⏵ %s %s\n", ts, step, verdict)
	case "mobd_step_redispatched":
		fmt.Fprintf(w, "%s   ↺ %s sent again to %s: %s\n", ts, step, ev.Member, ev.Reason)
	case "mobd_step_canceled":
		fmt.Fprintf(w, "%s   ⊘ %s canceled: %s\n", ts, step, ev.Reason)
	case "mobd_budget_exceeded":
		fmt.Fprintf(w, "%s   ⊘ budget exceeded: %s\n", ts, ev.Error)
	case "supervisor_escalation":
		fmt.Fprintf(w, "%s   ⚑ escalated to %s: %s\n", ts, ev.Member, clip(ev.Text, 80))
	case "supervisor_escalation_failed":
		fmt.Fprintf(w, "%s   ⚑ escalation failed: %s\n", ts, ev.Error)
	case "mobd_loop_iteration_started":
		fmt.Fprintf(w, "%s   ⟳ loop %s iteration %d\n", ts, ev.Loop, ev.Iteration)
	case "mobd_loop_completed":
		what := "ended"
		if ev.Class != "" {
			what = ev.Class
		}
		fmt.Fprintf(w, "%s   ⟳ loop %s %s: %s\n", ts, ev.Loop, what, ev.Reason)
	case "flow_completed":
		fmt.Fprintf(w, "%s ■ run completed%s\n", ts, sinceT(*started, ev.At))
	case "flow_failed", "flow_canceled":
		fmt.Fprintf(w, "%s ■ run %s%s: %s\n", ts, strings.TrimPrefix(ev.Type, "flow_"), sinceT(*started, ev.At), ev.Reason)
	}
}

// approveHint is the command that approves the step of an
// mobd_approval_requested event: with --by one of the step's approvers
// when it lists some (the user running it, if listed), as the daemon
// refuses a decision by anyone else.
func approveHint(ev event, approvers []string) string {
	args := []string{"mobd", "approve", shellQuote(ev.Mob), shellQuote(ev.Run), shellQuote(ev.Step)}
	if len(approvers) == 0 {
		return strings.Join(args, " ")
	}
	by := approvers[0]
	if user := os.Getenv("USER"); slices.Contains(approvers, user) {
		by = user
	}
	hint := strings.Join(append(args, "--by", shellQuote(by)), " ")
	if len(approvers) > 1 {
		quoted := make([]string, len(approvers))
		for i, a := range approvers {
			quoted[i] = shellQuote(a)
		}
		hint += "; approvers: " + strings.Join(quoted, ", ")
	}
	return hint
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.,:/@%+=", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func since(dispatched map[string]time.Time, step string, at time.Time) string {
	t, ok := dispatched[step]
	if !ok {
		return ""
	}
	delete(dispatched, step)
	return sinceT(t, at)
}

func sinceT(from, to time.Time) string {
	if from.IsZero() {
		return ""
	}
	return " in " + to.Sub(from).Round(time.Millisecond).String()
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmdEvents(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("events")
	q := url.Values{}
	filters := map[string]*string{}
	for _, name := range []string{"mob", "member", "run", "session"} {
		filters[name] = f.fs.String(name, "", "only events of this "+name)
	}
	after := f.fs.Uint64("after", 0, "start after this event id")
	follow := f.fs.Bool("follow", false, "keep streaming live events")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *filters["run"] != "" && *filters["mob"] == "" {
		return fmt.Errorf("%w: --run needs --mob: a run id names a run within its mob", errUsage)
	}
	for name, v := range filters {
		if *v != "" {
			q.Set(name, *v)
		}
	}
	return f.client().events(ctx, q, *after, *follow, func(se sseEvent) error {
		if f.json() {
			fmt.Fprintf(stdout, "%s\n", se.Data)
			return nil
		}
		var ev event
		if err := json.Unmarshal(se.Data, &ev); err != nil {
			// Shown, not dropped: the log goes on after it.
			fmt.Fprintf(stdout, "%s	(an event this client cannot read: %v)\n", se.ID, err)
			return nil
		}
		var detail []string
		for _, kv := range [][2]string{{"run", ev.Run}, {"step", ev.Step}, {"member", ev.Member}, {"peer", ev.Peer},
			{"reason", ev.Reason}, {"error", ev.Error}} {
			if kv[1] != "" {
				detail = append(detail, kv[0]+"="+kv[1])
			}
		}
		fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\t%s\n", ev.Cursor, ev.At.Local().Format(time.RFC3339), ev.Mob, ev.Type, strings.Join(detail, " "))
		return nil
	})
}
