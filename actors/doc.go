// Package actors runs agent sessions as actors on a supervised pool of
// Meerkat runtime processes, so that a user's turn survives a runtime
// crash: it completes after recovery, or its caller gets a typed error
// saying exactly what happened; nothing accepted is lost or silently run
// twice.
//
// Every runtime process, every session and every mob member is an actor
// with its own mailbox (protoactor-go); a [supervision] tree keeps the
// runtime processes alive.
//
// # Using it
//
//	engine, err := actors.Start(ctx, actors.Config{PoolSize: 4, StateRoot: "/var/lib/mobd"})
//	if err != nil { … }
//	defer engine.Shutdown(context.Background())
//
//	session, err := engine.CreateSession(ctx, rpc.Text("You review Go code."), rpc.SessionOptions{})
//	res, err := session.Turn(ctx, rpc.Text("Review main.go"), rpc.TurnOptions{})
//	switch {
//	case err == nil:
//		fmt.Println(res.Text) // res.Recovered, res.Attempts tell how it got there
//	case errors.Is(err, actors.ErrTurnOutcomeUnknown):
//		// the runtime died mid-turn; the turn may have had effects
//	case errors.Is(err, actors.ErrTurnLost):
//		// the turn provably never ran: safe to resubmit
//	}
//
//	for ev, err := range session.Stream(ctx, rpc.Text("Explain it"), rpc.TurnOptions{}).All() { … }
//
// [Engine.Session] re-attaches to a session of the realm by id (for example
// after the engine itself restarted). [Engine.SpawnMember] starts a mob
// member. [Engine.Runtimes] reports the pool; [Engine.Shutdown] stops
// everything gracefully.
//
// # Runtimes and supervision
//
// [Start] runs Config.PoolSize runtime processes through the rpc SDK, all
// on one persistent realm (Config.RealmID under Config.StateRoot), under a
// [supervision.Supervisor]. Each is a [supervision.Child] that connects on
// every (re)start; its health is probed with a cheap call (a hung runtime
// is killed and restarted); its restarts follow the supervisor's capped
// exponential backoff with jitter. Each runtime has a runtime actor that
// tells the sessions it hosts when it goes down and when a new incarnation
// is up. When the runtimes need more restarts than the supervisor's
// intensity allows, the pool gives up: [Engine.Err] and every turn report
// [ErrRuntimeUnavailable], and nothing restarts any more.
//
// New sessions go to the least loaded runtime that is up, at most
// Config.MaxSessionsPerRuntime per runtime, and stay there: after a restart
// each session actor re-attaches to its session on the new incarnation,
// verified with a read. Config.ModelLimits bounds the turns running at
// once per provider or model across the engine.
//
// # Sessions
//
// A session actor serialises its session's turns: the runtime runs one
// turn per session at a time, so concurrent callers queue in the session's
// mailbox instead of getting SESSION_BUSY. The mailbox is bounded
// (Config.SessionQueue): a turn that finds it full fails at once with
// [ErrOverloaded]. The actor never waits for a turn: it starts a plain
// turn with [rpc.Session.StartTurn], whose end the connection's reader
// sends back to it as a message, so no goroutine waits on a turn in flight
// (when the turn succeeded, the reader answers the caller itself, saving
// the answer a hop through the actor, and sends the actor nothing unless it
// waits for the turn's end: the actor settles the turn at its next
// message);
// a session's first turn, a streamed turn and a turn that waits for a
// model slot (Config.ModelLimits) run in a goroutine of their own instead.
// Either way the actor keeps hearing about its runtime while a turn runs.
// Session and member actors process their mailboxes on goroutines the
// engine keeps warm between messages (internal/dispatch), not on a fresh
// goroutine per message as protoactor's default dispatcher does; Shutdown
// stops them. An ask posted to an idle member, and a turn request posted
// to an idle session actor, are processed at once on the goroutine that
// posts them, one message at a time as ever: a flow step goes from the
// asker to the runtime's pipe without waking another goroutine. Events of streamed turns flow through the actor to the
// [Stream] and to the session's subscribers ([SessionRef.Subscribe]).
//
// CreateSession and Session give their caller a hold on the session's
// actor, and a member holds its session's; [SessionRef.Release] gives a
// hold back. An actor that nobody holds any more finishes its turns and
// stops, and the engine forgets it; the session stays in the realm. So a
// daemon that respawns and retires members does not keep an actor (nor
// the runtime's attention) for every session it ever used. A turn that
// reaches a released actor fails with [ErrSessionReleased], as an ask that
// reaches a retired member fails with [ErrMemberRetired]: these actors
// stop behind the requests already in their mailboxes, never dropping one.
//
// # Crash recovery
//
// The runtime's turn/start has no idempotency key, so when a runtime dies
// under a turn the engine reads the session's committed history on the
// restarted runtime (protocol §9). Before each turn the actor knows the
// history's length (from a read when no turn ran, or a previous recovery)
// and how many turns completed since; each completed turn committed one
// user message. After the restart:
//
//   - no user message of the turn in the history: it never committed, and
//     it is run once more on the new runtime ([TurnResult.Attempts] is 2,
//     streams get a [*RetryNotice]); if the runtime dies under the rerun
//     before it commits too, the turn fails with [ErrTurnLost];
//   - its user message and an assistant reply after it: the turn completed,
//     and its result is rebuilt from the history ([TurnResult.Recovered]),
//     never run again;
//   - its user message without a reply: the outcome is unknown and the turn
//     fails with [ErrTurnOutcomeUnknown] ([TurnError.Committed] is set).
//
// Session creation is recovered the same way: [Engine.CreateSession] labels the
// session with [CreateLabel] so that the engine can look it up. Every
// accepted turn is answered exactly once, and never left waiting: if the
// pool gives up, it fails with [ErrRuntimeUnavailable]; at shutdown, with
// [ErrEngineStopped].
//
// # Members
//
// A member actor is a mob member: an identity, a role and profile, a
// session and peers. It is the unit flows work with. Its messages ([Ask],
// [PeerMessage], [WirePeer], [UnwirePeer], [GetState], [RetireMember] and
// the replies [Answer] and [MemberState]) are plain structs with JSON tags,
// with errors as [Failure] values, so they can be journalled and sent
// across a protoactor cluster; [MemberRef] wraps them for Go callers, and
// any actor can send them to [MemberRef.PID]. When an ask's turn succeeds,
// the connection's reader sends the [Answer] to the asker itself, and the
// member settles the ask at its next message, unless it waits for the
// turn's end (a duplicate of the ask's key, or retirement): then the
// answer goes through the member as any other.
//
// # Logging
//
// The engine logs through Config.Logger (zap). protoactor logs through
// log/slog; the engine routes it into the same zap logger (named
// "protoactor") with zapslog, so one logger serves the whole process.
// Supervision events are logged too (named "supervision") and can be
// observed with Config.Supervision.EventHook.
//
// # Concurrency
//
// [Engine], [SessionRef] and [MemberRef] are safe for concurrent use;
// [Stream] and [Subscription] are read by one goroutine. Every blocking
// call takes a context first; cancelling it returns ctx.Err() and, for a
// turn, drops it from the queue or interrupts it on the runtime.
package actors
