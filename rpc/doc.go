// Package rpc is the Go SDK for Meerkat's agent runtime, rkat-rpc. It
// starts the runtime as a subprocess and speaks JSON-RPC 2.0 to it, one
// JSON object per line over stdin/stdout, offering everything the Python
// SDK offers in Go idioms: sessions, typed event streams, deferred
// sessions, capabilities, configuration, skills, comms, callback tools,
// mobs and runtime binary resolution.
//
// # Connecting
//
//	client, err := rpc.Connect(ctx, rpc.Options{})
//	if err != nil { … }
//	defer client.Close()
//	session, err := client.CreateSession(ctx, rpc.Text("What is the capital of France?"), rpc.SessionOptions{})
//
// [Connect] resolves the binary ([Resolver]: MEERKAT_BIN_PATH, an explicit
// path, rkat-rpc on PATH, a checksum-verified download, then the legacy
// `rkat rpc`), starts it with the realm and live flags of [Options], checks
// the contract version and fetches capabilities.
//
// The download (which the Python SDK does without any verification) is
// installed only when the archive's SHA-256 matches: with default Options
// the expected value is the checksum the release publishes (the archive's
// own .sha256, else its line in the release's checksums.sha256), and an
// archive whose checksum is missing, unlisted or different is refused
// with [ErrDownloadFailed]. That guards against corruption, not against a
// compromised release host; pin [Resolver.Checksums] for that. [ConnectStreams] speaks the
// same protocol over pipes you provide. A [Client] is safe for concurrent
// use; calls from many goroutines are multiplexed on the one connection.
//
// # Streams
//
// A streamed turn is an [*EventStream]: Next/Current/Err, or a range loop
// over All, which yields typed events (*TextDelta, *ToolCallRequested,
// *TurnCompleted, … — one Go type per event of the contract, and
// *UnknownEvent for anything new or malformed, which never ends a stream).
// A known event missing a required field, or carrying one of the wrong
// type, is an *UnknownEvent of type "malformed_event" with Err saying why,
// as protocol.md specifies — never a typed event with zero values (the
// Python SDK's dataclasses default missing fields instead). An envelope or
// subscription notification that cannot be read at all is an
// *UnknownEvent of type "invalid_envelope", on an [*EventStream] and a
// [*Subscription] alike.
//
//	stream := session.Stream(ctx, rpc.Text("Explain the CI pipeline"), rpc.TurnOptions{})
//	for ev, err := range stream.All() {
//		if err != nil { return err }
//		if d, ok := ev.(*rpc.TextDelta); ok { fmt.Print(d.Delta) }
//	}
//	res, _ := stream.Result()
//
// The stream of a turn ends when the runtime's response to it has arrived
// and every event before it was delivered. The runtime does not promise
// that events precede the response, so a stream whose run_completed or
// run_failed event has not arrived yet stays open for
// [Options.LateEventGrace], and events are attributed to turns in order:
// a late event of one turn never leaks into the next. Events for a
// session being created arrive before its id is known; they are held and
// replayed into the stream once the response names the session.
//
// Each stream holds at most [Options.StreamBuffer] events for a slow
// consumer. By default ([OverflowBlock]) a full buffer makes the
// connection wait for the consumer, so backpressure reaches the runtime
// through the pipe and nothing is lost; [OverflowFail] instead ends only
// the lagging stream with [ErrStreamOverflow] and leaves the rest of the
// connection unaffected (see [OverflowBlock] for when to prefer it).
// Memory stays bounded either way.
//
// # Errors
//
// A failure reported by the runtime is an [*Error] carrying the contract's
// code; match it with errors.Is against [ErrSessionNotFound],
// [ErrSessionBusy], [ErrInvalidParams] and the other sentinels (one per
// code of the contract; CAPABILITY_UNAVAILABLE matches
// [ErrCapabilityUnavailable], as a local capability check does), or use
// errors.As for its Category, Hint and details (decode those of the
// multi-host codes into [ScopeDenied], [HostUnavailable], [StaleCursor] and
// [StaleFence] with [Error.DecodeDetails]). Client-side failures wrap sentinels such as
// [ErrClientClosed], [ErrConnectionClosed], [ErrProtocol],
// [ErrVersionMismatch], [ErrBinaryNotFound], [ErrDownloadFailed],
// [ErrUnsupportedPlatform] and [ErrCapabilityUnavailable]. A runtime that
// exits fails every pending call and stream with an [*ExitError] holding
// its exit status and last stderr lines; a malformed line from it faults
// the connection for good with [ErrProtocol].
//
// # Python SDK equivalents
//
//	Python                                          Go
//	async with MeerkatClient() as client            client, err := rpc.Connect(ctx, rpc.Options{}); defer client.Close()
//	MeerkatClient(rkat_path=…)                      rpc.Options{BinaryPath: …}
//	client.connect(realm_id=…, isolated=…, …)       rpc.Options{RealmID: …, Isolated: …, StateRoot: …, …}
//	client.connect(live_ws=True, live_webrtc=True)  rpc.Options{LiveWS: true, LiveWebRTC: true}
//	(auto-download, unverified)                     download verified against the release's published SHA-256
//	                                                (refused if missing or different); rpc.Resolver{Checksums: …} pins it
//	client.close()                                  client.Close()
//	client.create_session(prompt, **kw)             client.CreateSession(ctx, rpc.Text(p), rpc.SessionOptions{…})
//	create_session(system_prompt=…)                 rpc.SessionOptions{SystemPrompt: …} (TurnOptions too)
//	system_prompt={"action": "disable"}             rpc.SessionOptions{DisableSystemPrompt: true} (TurnOptions too)
//	create_session(skill_references=[…])            no 0.8.26 wire form: use SkillRefs (rpc.ParseSkillKey reads "<uuid>/<name>")
//	client.create_session_streaming(prompt, **kw)   client.CreateSessionStreaming(ctx, rpc.Text(p), opts) → *SessionStream
//	client.create_deferred_session(prompt, **kw)    client.CreateDeferredSession(ctx, rpc.Text(p), opts)
//	deferred.start_turn()                           deferred.StartTurn(ctx, rpc.TurnOptions{}) / StartTurnStream
//	client.list_sessions()                          client.ListSessions(ctx, rpc.ListSessionsOptions{})
//	client.read_session(id)                         client.ReadSession(ctx, id)
//	client.read_session_history(id, offset, limit)  client.ReadSessionHistory(ctx, id, offset, limit)
//	client.create_mob(definition=…)                 client.CreateMob(ctx, definition)
//	client.create_mob(prefab=…)                     no 0.8.26 wire form: mobs are created from a definition only
//	client.list_mobs()                              client.ListMobs(ctx)
//	client.capabilities                             client.Capabilities()
//	client.has_capability(id)                       client.HasCapability(id)
//	client.require_capability(id)                   client.RequireCapability(id) (error wraps ErrCapabilityUnavailable)
//	client.get_config()                             client.GetConfig(ctx)
//	client.set_config(config)                       client.SetConfig(ctx, config, expectedGeneration)
//	client.patch_config(patch)                      client.PatchConfig(ctx, patch, expectedGeneration)
//	(skills/list)                                   client.ListSkills(ctx)
//	@tool / callback tools                          rpc.Options{Tools: …} or client.RegisterTools(ctx, tools...)
//	session.id / .ref                               session.ID() / session.Ref()
//	session.text / .usage / .turns / .tool_calls    session.Text() / Usage() / Turns() / ToolCalls()
//	session.structured_output / .last_result        session.StructuredOutput() / LastResult()
//	RunResult.skill_diagnostics                     RunResult.SkillHealth (*SkillDiagnostics; raw JSON in SkillDiagnostics)
//	session.turn(prompt, skill_refs=…)              session.Turn(ctx, rpc.Text(p), rpc.TurnOptions{SkillRefs: …})
//	turn(skill_references=[…])                      no 0.8.26 wire form: use SkillRefs
//	session.stream(prompt)                          session.Stream(ctx, rpc.Text(p), rpc.TurnOptions{}) → *EventStream
//	(no Python equivalent)                          session.StartTurn(ctx, rpc.Text(p), opts, done): no goroutine waits
//	session.history(offset, limit)                  session.History(ctx, offset, limit) (rows' ContentBlocks hold structured blocks)
//	session.archive()                               session.Archive(ctx)
//	session.interrupt()                             session.Interrupt(ctx)
//	session.invoke_skill(key, prompt)               session.InvokeSkill(ctx, rpc.SkillKey{…}, rpc.Text(p))
//	session.invoke_skill("<uuid>/<name>", prompt)   key, err := rpc.ParseSkillKey(ref); session.InvokeSkill(ctx, key, rpc.Text(p))
//	session.send(**kwargs)                          session.Send(ctx, rpc.CommsMessage{Kind: …}) (fields checked per kind)
//	send(content_taint=…)                           rpc.CommsMessage{ContentTaint: rpc.TaintDeclareClean / TaintDeclareTainted / TaintUndeclared}
//	session.peers()                                 session.Peers(ctx)
//	session.subscribe_events()                      session.SubscribeEvents(ctx) → *Subscription[Envelope]
//	subscription event scope_id / scope_path        Envelope.ScopeID / ScopePath; its sequence in Envelope.Sequence
//	async for event in stream                       for ev, err := range stream.All() / for stream.Next() { stream.Current() }
//	stream.result / stream.session_id               stream.Result() / stream.SessionID()
//	stream.collect()                                stream.Collect()
//	stream.collect_text()                           stream.CollectText()
//	TextDelta, ToolCallRequested, … (dataclasses)   *rpc.TextDelta, *rpc.ToolCallRequested, … (switch ev.(type))
//	RunStarted.prompt                               RunStarted.Input (RunInput; String() gives the text)
//	RunFailed.error / .error_class                  RunFailed.ErrorReport.Message / .Class
//	ToolExecutionCompleted.result                   ToolExecutionCompleted.Content (ContentBlocks)
//	Retrying.attempt / .max_attempts / .delay_ms    Retrying.Retry.Plan.Attempt / .MaxRetries / .SelectedDelayMS
//	Retrying.error                                  Retrying.Retry.Failure.Message (and .Kind, .Provider)
//	HookFailed.error                                HookFailed.Reason (HookFailureReason; Message)
//	CompactionFailed.error                          CompactionFailed.Reason (CompactionFailureReason)
//	InteractionFailed.error                         InteractionFailed.Reason (InteractionFailureReason)
//	SkillResolutionFailed.reference / .error        SkillResolutionFailed.SkillKey / .Reason
//	(missing event field → zero value)              *rpc.UnknownEvent{Type: "malformed_event"} (protocol.md §4.4)
//	UnknownEvent                                    *rpc.UnknownEvent
//	SkillKey(source_uuid, skill_name)               rpc.SkillKey{SourceUUID: …, SkillName: …}
//	multimodal prompt list[dict]                    rpc.Blocks(rpc.TextBlock(…), rpc.ImageBlock(…), rpc.VideoBlock(…))
//	mob.id / mob.status()                           mob.ID() / mob.Status(ctx)
//	mob.lifecycle(action)                           mob.Lifecycle(ctx, rpc.MobStop)
//	mob.spawn(…) / mob.spawn_many(…)                mob.Spawn(ctx, rpc.SpawnSpec{…}) / mob.SpawnMany(ctx, specs)
//	spawn(placement=…, launch_mode=…, …)            rpc.SpawnSpec{Placement: …, LaunchMode: &rpc.LaunchMode{…}, Backend: rpc.MobBackendSession, …}
//	mob.retire(id) / mob.respawn(id)                mob.Retire(ctx, id) / mob.Respawn(ctx, id, nil)
//	mob.wire(a, b) / mob.unwire(a, b)               mob.Wire(ctx, a, b) / mob.Unwire(ctx, a, b)
//	mob.members()                                   mob.Members(ctx)
//	mob.member(id).send(content, handling_mode=…)   mob.Member(id).Send(ctx, rpc.Text(c), "queue")
//	mob.flows() / mob.run_flow(flow_id, params)     mob.Flows(ctx) / mob.RunFlow(ctx, flowID, params)
//	mob.flow_status(run_id) / mob.cancel_flow(id)   mob.FlowStatus(ctx, runID) / mob.CancelFlow(ctx, runID)
//	flow_status()["execution_binding"] (merged)     FlowRun.ExecutionBinding (raw)
//	mob.subscribe_events()                          mob.SubscribeEvents(ctx) → *Subscription[AttributedEvent]
//	mob.subscribe_member_events(id)                 mob.SubscribeMemberEvents(ctx, id)
//	MeerkatError (code, message, details)           *rpc.Error (Code, Number, Message, Details, Hint, Category)
//	SessionNotFoundError, … (by code)               errors.Is(err, rpc.ErrSessionNotFound), …
//	CapabilityUnavailableError                      errors.Is(err, rpc.ErrCapabilityUnavailable) (local check or -32020)
//	ScopeDeniedError / HostUnavailableError / …     errors.Is(err, rpc.ErrScopeDenied) …; re.DecodeDetails(&rpc.ScopeDenied{})
//	                                                (rpc.HostUnavailable, rpc.StaleCursor, rpc.StaleFence)
//	(any other method)                              client.Call(ctx, method, params, &result)
package rpc
