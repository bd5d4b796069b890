// Package mob runs Meerkat mobs — teams of agents — and their flows on
// mobd's own actors, so that a flow survives runtime crashes and daemon
// restarts.
//
// A Mob is a definition (package flows: Meerkat JSON or TOML, unchanged, or
// a flow built with the Go DSL) plus members and flow runs. Members are
// actors on a Host: EngineHost puts them on the supervised runtimes of an
// actors.Engine; package flowtest scripts them for tests. The mob and its
// runs talk to members only with the serialisable messages of package
// actors (actors.Ask, actors.WirePeer, …), by PID.
//
//	j, _ := journal.Open(ctx, "/var/lib/mobd/journal.db", journal.Options{})
//	m, err := mob.Create(ctx, def, mob.Config{Host: mob.EngineHost(engine), Journal: j})
//	m.Spawn(ctx, mob.SpawnSpec{Profile: "lead"})
//	m.SpawnMany(ctx, []mob.SpawnSpec{{Profile: "analyst"}, {Profile: "analyst"}})
//	run, err := m.RunFlow(ctx, "research", map[string]any{"subject": "Go"}, mob.RunOptions{})
//	snap, err := run.Wait(ctx) // step ledger, failure ledger, usage accounting
//
// # Lifecycle and members
//
// A mob is creating, running, stopped (no new runs or messages; Resume),
// completed (no more work) or destroyed (its journal is deleted). Members
// are spawned from profiles (one, many, or ensured), retired, respawned
// on a fresh session, wired and unwired, sent messages, and report their
// status. Wiring rules (auto_wire_orchestrator, role_wiring) wire new
// members. Topology rules govern member-to-member traffic: strict topology
// refuses a wiring or message no rule allows (ErrTopology), advisory
// topology allows it; both record a topology_violation event. A member
// messages a wired peer while it works through the peer tool
// (Directory.Tool), which queues the message in the peer's mailbox. Every
// message to a member, from a peer or from outside the mob, is journalled
// with its answer as a mobd_member_message event.
//
// # Events and the journal
//
// Every mob, member and flow transition is an Event, journalled in an
// embedded SQLite database (package journal) with a cursor; Events and
// Subscribe resume after any cursor. The mob is event-sourced: Open
// replays a mob's events to rebuild it after a restart (even after
// SIGKILL), re-attaches its members to their sessions, and resumes its
// runs. A record's columns hold the event's mob, type, run and time, and
// its data the rest of the event; DecodeEvent puts them together. Completed steps are not run again; a step target in flight is
// re-dispatched with the same idempotency key (a mobd_step_redispatched
// event records it). A member answers every ask of one key from one turn
// while it lives; across a crash of the whole process the re-dispatched
// turn runs again on the member's session, so side effects of a turn in
// flight at the crash may happen twice.
//
// # Flows
//
// A run is an actor. It follows Meerkat's flow model: steps sent to the
// members of a role, message templates, depends_on with all or any (a step
// whose dependencies cannot be met is skipped), conditions and branches,
// step timeouts clamped to the flow deadline (limits.max_flow_duration_ms,
// which also bounds the run), expected output schemas validated against
// structured output, failure_policy escalate (fails the frame and the run)
// or continue (recorded, the frame goes on), repeat_until loops (a loop
// that reaches max_iterations without its condition fails as "exhausted"),
// supervisor escalation once the run's failures reach
// supervisor.escalation_threshold, cancel, and a status with a step ledger,
// a failure ledger and per-member usage.
//
// Dispatch modes: fan_out sends the message to every member of the role;
// its output is the member's output with one member, else an array of the
// collected outputs in member order (the first collected with collection
// policy any). one_to_one pairs the step's targets with those of the step
// it depends on (its first dependency): the i-th member of the role, in
// identity order, gets the message rendered with the dependency's i-th
// output as steps.<dependency>.output, and the output is an array as for
// fan_out (a dependency with one target pairs with one member; with more
// outputs than members the step fails). fan_in gathers: one dispatch, to
// one member of the role (the role's members take turns), whose message
// reads the outputs of the steps it depends on; its output is that
// member's output. Collection
// policies all, any and quorum n say how many targets must complete; the
// step fails as soon as that can no longer happen, and abandons the
// targets still running once it is met. When a frame fails, its steps
// still running are canceled (mobd_step_canceled) and those not started
// are skipped.
//
// A member turn that no target waits for any more is cancelled on the
// runtime (actors.CancelAsk), so that it stops costing and frees its
// member: a step's abandoned targets, a cancelled step's and the targets
// in flight when the run ends get limits.cancel_grace_timeout_ms (5s by
// default) to finish first. A timed-out target's turn is cancelled at
// once when the target is to be retried; otherwise it may finish,
// orphaned, within limits.max_orphaned_turns (8 by default, half of it
// per run), and is cancelled beyond.
//
// Beyond Meerkat (the "mobd" extensions of package flows): a retry policy
// per step (attempts, capped exponential backoff, retried failure
// classes; limits.max_step_retries retries at once otherwise), token
// budgets per run and per step, checked after every turn (exceeding one
// cancels the run with a *BudgetError), and approval steps, which wait for
// Run.Decide (or their timeout).
package mob
