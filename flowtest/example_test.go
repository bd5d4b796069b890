package flowtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/flowtest"
	"github.com/mobd-dev/mobd/mob"
)

// exampleT stands in for the *testing.T a test passes to flowtest.New.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (t *exampleT) Helper()                        {}
func (t *exampleT) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (t *exampleT) Errorf(format string, a ...any) { fmt.Printf(format+"\n", a...) }
func (t *exampleT) Logf(format string, a ...any)   {}
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func Example() {
	t := &exampleT{} // in a test: its *testing.T
	defer t.done()

	def, err := flows.LoadJSON([]byte(`{
	  "id": "research",
	  "profiles": {"lead": {"model": "claude-opus-4-8"}, "analyst": {"model": "claude-sonnet-4-6"}},
	  "flows": {"brief": {"steps": {
	    "plan": {"role": "lead", "message": "Plan research on {{ params.topic }}",
	             "expected_schema_ref": "{\"type\": \"object\", \"properties\": {\"question\": {\"type\": \"string\"}}, \"required\": [\"question\"]}"},
	    "dig": {"role": "analyst", "message": "Answer: {{ steps.plan.output.question }}", "depends_on": ["plan"],
	            "timeout_ms": 60000, "mobd": {"retry": {"attempts": 2, "retry_on": ["timeout"]}}}
	  }}}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	h := flowtest.New(t, def, flowtest.Config{
		Members: []mob.SpawnSpec{{Profile: "lead"}, {Profile: "analyst"}},
	})
	h.Script(flowtest.Match{Step: "plan"}, flowtest.JSON(map[string]string{"question": "Why do otters hold hands?"}))
	// The analyst's first turn never ends; the retry answers.
	h.Script(flowtest.Match{Role: "analyst"}, flowtest.Never(), flowtest.Text("To stay together asleep.").WithUsage(800, 12))

	run := h.Run("brief", map[string]string{"topic": "otters"})
	h.Advance(time.Minute) // the first attempt times out; the retry waits 1s
	snap, err := h.Finish(run)
	fmt.Println(snap.Status, err)
	for _, c := range h.Calls() {
		fmt.Printf("%s attempt %d at +%s: %s\n", c.Step, c.Attempt, c.At.Sub(snap.StartedAt), c.Prompt)
	}
	fmt.Println(string(run.Output("dig")), snap.Accounting.UsageTotal.Total())
	// Output:
	// completed <nil>
	// plan attempt 1 at +0s: Plan research on otters
	// dig attempt 1 at +0s: Answer: Why do otters hold hands?
	// dig attempt 2 at +1m1s: Answer: Why do otters hold hands?
	// "To stay together asleep." 812
}
