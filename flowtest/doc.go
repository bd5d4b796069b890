// Package flowtest tests mob flows without runtimes: a [Harness] runs a
// mob of a definition (package flows) on scripted members, a fake clock
// and an in-memory journal, so a test decides what every member answers,
// moves time by hand, and checks what the run did: its status, outputs,
// step and failure ledgers, usage, and events. Runs can be recorded as
// golden files and replayed.
//
//	func TestReview(t *testing.T) {
//		def, _ := flows.LoadFile("mob.toml")
//		h := flowtest.New(t, def, flowtest.Config{
//			Members: []mob.SpawnSpec{{Profile: "lead"}, {Profile: "analyst"}, {Profile: "analyst"}},
//		})
//		h.Script(flowtest.Match{Step: "plan"}, flowtest.JSON(plan{Files: []string{"main.go"}}))
//		h.Script(flowtest.Match{Role: "analyst"},
//			flowtest.Fail("remote:PROVIDER_ERROR"),     // the first ask fails,
//			flowtest.Text("LGTM").WithUsage(900, 40)) // the next ones succeed
//		h.Script(flowtest.Match{Step: "publish"}, flowtest.Never()) // times out
//		run := h.Run("review", map[string]string{"repo": "mobd"})
//		h.Advance(30 * time.Second)
//		snap, err := h.Wait(run)
//		...
//		h.Golden(run, "testdata/review.golden")
//	}
//
// # Members
//
// Members are spawned by the mob as usual ([Config.Members],
// [Harness.Spawn], Mob.Spawn) on the harness's mob.Host: each is an actor
// that answers the member messages of package actors (Ask, WirePeer,
// UnwirePeer, GetState, RetireMember) as a real member does, idempotency
// keys included: an ask whose key was answered gets the same answer again
// without a new turn, a failed one runs again. Every ask is recorded as a
// [Call] ([Harness.Calls]), with the step, attempt and loop iteration its
// key names.
//
// What a member answers is scripted with [Harness.Script]: a [Match]
// (member, role, step, prompt substring, supervisor escalations, or a
// function) and the replies it gets in turn, the last one repeating:
// [Text], [JSON] structured output, [Fail] with a failure code
// (actors.Code* or "remote:<runtime code>", classified by the executor as
// the real failure would be), [Never], [Func]; each may carry usage
// ([Reply.WithUsage]) and a delay on the fake clock ([Reply.After]). An
// ask no script matches gets "<member>: <prompt>", or, when it asks for
// structured output, the smallest value of its schema.
//
// # Time and order
//
// The mob and the members run on a supervisiontest.FakeClock
// ([Harness.Clock]): step timeouts, retry backoffs, approval timeouts,
// flow deadlines and delayed answers wait until the test moves it with
// [Harness.Advance] (timer by timer, letting the mob settle at each), or
// [Harness.Finish], which waits for a run and jumps to the next timer
// whenever the run idles. [Harness.Wait] waits for a run that needs no
// time to pass, and fails the test at once if the run idles unfinished.
//
// Answers go out one at a time, each once the mob has handled everything
// before it, ordered by their due time and then by the ask's idempotency
// key (run, frame, step, member, attempt). So a run journals its events in
// the same order every time, however the goroutines are scheduled.
//
// # Golden files
//
// [Harness.Golden] compares a run's events with a golden file:
// [Normalize]d, one JSON object a line, without cursors, times and mob
// ids, with placeholder run and session ids, after the run's roster. Set
// FLOWTEST_UPDATE=1 to write the files instead. [Record] produces the
// same form from any mob, one on real runtimes too, and [Replay] reruns a
// recorded run on scripted members that answer what the recording says,
// checking that the run journals the same events again: a recording made
// against real runtimes becomes a test that needs none.
package flowtest
