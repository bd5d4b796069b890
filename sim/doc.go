// Package sim is a simulated Meerkat runtime: it speaks the rkat-rpc
// JSON-RPC 2.0 protocol (one JSON object per line over stdio) as of contract
// 0.8.26, sends only messages the 0.8.26 schemas accept, and answers with a
// deterministic scripted model. The rkat-sim executable (cmd/rkat-sim) wraps
// Serve; Go tests can also run the runtime in-process over io.Pipe.
//
// # What is simulated
//
//   - Handshake: initialize (server_info, contract_version, methods) and
//     capabilities/get (every capability id, with Available, DisabledByPolicy,
//     NotCompiled and NotSupportedByProtocol statuses).
//   - Sessions: session/create (including initial_turn "deferred"),
//     turn/start, turn/interrupt, session/read, session/list,
//     session/history, session/archive, session/input_status and
//     session/stream_open / stream_close. Ids are lowercase UUIDv7.
//   - Turns: session/event notifications with full EventEnvelopes in
//     canonical order (run_started, turn_started, text_delta per token,
//     text_complete, turn_completed, run_completed) written before the
//     response (a WireRunResult). Usage is deterministic: input tokens are
//     the words of the prompt plus the session history (64 per image or
//     video), output tokens the number of text_delta events.
//   - Callback tools (tools/register, server→client tool/execute),
//     structured output generated from the output schema, skills
//     (skills/list, skill_refs, preload_skills), comms (comms/send with every
//     kind, each taking only its own fields, comms/peers), config/get|set|patch with
//     generation compare-and-set and RFC 7396 merge patches, and mobs
//     (mob/create … mob/flow_run, member sessions, mob/events, mob streams).
//     Flows run their steps sequentially in dependency order, one turn per
//     target member.
//   - Mob streams follow the contract: a mob-wide stream carries every
//     member's AgentEvents as AttributedEvents ({source:{identity,
//     generation}, role, envelope, source_fence_token}), a per-member stream
//     the bare envelopes of that member. Mob lifecycle events (mob_created,
//     member_spawned, members_wired, flow_started, step_dispatched,
//     step_completed, flow_completed, …) are not AgentEvents, so they are
//     kept in the cursor-based log read with mob/events
//     ({cursor, timestamp, mob_id, kind:{type, …}}); flow steps show up on
//     mob streams as the member turns they run.
//   - session/read and session/list report is_active = true while a turn
//     runs on the session. Mob member sessions are readable by id but not
//     listed by session/list. A session/create whose first turn fails (for
//     example through [[sim:error …]]) keeps the created session; its id is
//     in the run_started/run_failed events.
//   - Persistence: with a realm id and a state root (backend sqlite or
//     jsonl; both store JSON files, sqlite only changes the reported
//     sessions_sqlite_path) sessions, config and mobs live under
//     <state-root>/realms/<realm>/ as one JSON file each, written atomically
//     (temp file + rename), so another process on the same realm lists,
//     reads and continues them; event sequence numbers are reserved on disk
//     in blocks so they keep increasing across processes, even after a
//     crash. Without a realm (or with backend memory) everything is in
//     memory.
//
// # The scripted model
//
// Known prompts get fixed answers ("What is the capital of France?" → "The
// capital of France is Paris.", follow-ups such as "What about Germany?",
// arithmetic such as "12 * 15", "count to N", "My name is X" / "What is my
// name?", "echo: TEXT" → TEXT); any other prompt gets a deterministic
// sentence quoting it. Multimodal prompts are accepted and the reply says how
// many images and videos it saw. A turn with an output schema replies with
// the JSON of a value generated from the schema.
//
// # Directives
//
// Directives are written inside the prompt text as [[sim:NAME ARGS]]; they
// are removed from the text the model sees (but kept in the stored
// history). An invalid directive makes the request fail with -32602.
//
//	[[sim:error CODE MESSAGE]]        fail the turn with error CODE (run_failed event, error response)
//	[[sim:error CODE {JSON}]]         ... with error.data = JSON (message taken from data.message
//	                                  or the semantic code name), e.g.
//	                                  [[sim:error -32027 {"watermark":5}]] or
//	                                  [[sim:error -32027 {"code":"STALE_CURSOR","message":"m","details":{"watermark":5}}]]
//	[[sim:error CODE MESSAGE {JSON}]] both
//	[[sim:slow 50ms]]                 per-token delay for this turn (overrides Options.TokenDelay)
//	[[sim:tokens 200000]]             reply with a flood of N short text_delta tokens
//	[[sim:crash]]                     stop all output mid-turn; Serve returns ErrSimulatedCrash
//	                                  (the executable exits with status 3)
//	[[sim:hang]]                      stop answering anything; stdin is still read, EOF is
//	                                  ignored, Serve returns only when ctx is done (SIGTERM)
//	[[sim:hang hard]]                 like hang, but Serve never returns: the process must
//	                                  be killed (executable only)
//	[[sim:garbage]]                   write one malformed JSON line, then continue
//	[[sim:tool NAME {"json":"args"}]] call callback tool NAME (several directives = several
//	                                  rounds); an unregistered tool yields an is_error result
//	[[sim:extraction_fail]]           structured output extraction fails (extraction_failed
//	                                  event, extraction_error in the result)
//	[[sim:unknown_event]]             emit an event with an unknown type and a text_delta
//	                                  without delta (both marked "injected" in the transcript)
//	[[sim:orphan_event]]              emit a session/event for an unknown session id
//	[[sim:late_event]]                write the turn's run_completed event after its response
//	                                  (the real runtime's separate queues allow that order)
//	[[sim:interrupt_error]]           an interrupted turn answers REQUEST_CANCELLED (-32005)
//	                                  instead of a WireRunResult with the partial text
//	[[sim:reply TEXT]]                reply with exactly TEXT
//
// # Script file
//
// Options.ScriptPath (RKAT_SIM_SCRIPT) names a JSON file that applies the
// same directives without touching prompts:
//
//	{
//	  "interrupt_error": false,
//	  "rules": [
//	    {"prompt_contains": "weather", "directives": "[[sim:slow 20ms]]", "reply": "Sunny."},
//	    {"labels": {"team": "red"}, "directives": "[[sim:error -32010 provider down]]"},
//	    {"method": "session/list", "directives": "[[sim:error -32603 store offline]]"}
//	  ]
//	}
//
// A rule matches a turn when every criterion it sets matches (prompt_contains
// is case-insensitive; labels must all be present on the session; method is
// the request method). Rules with only a method also apply to non-turn
// methods, where error, slow, garbage, crash and hang are honoured. Prompt
// directives win over script rules.
//
// # Interrupts
//
// turn/interrupt on a running turn answers {"interrupted":true,
// "result":"interrupted"} once the turn has wound down: the turn stops
// streaming, emits turn_completed{stop_reason:"cancelled"} and run_completed
// with the partial text, and its own response is a WireRunResult with that
// partial text (or REQUEST_CANCELLED with [[sim:interrupt_error]]). On an
// idle session the answer is {"interrupted":false,"result":"staged_noop"}.
// A JSON-RPC "cancel" notification {"id": N} cancels request N; a turn then
// answers REQUEST_CANCELLED.
//
// # Transcript
//
// With Options.TranscriptPath set, one line is appended per message written:
//
//	{"kind":"response","method":"turn/start","msg":{...}}
//	{"kind":"notification","method":"session/event","msg":{...}}
//	{"kind":"request","method":"tool/execute","msg":{...}}
//	{"kind":"garbage","raw":"..."}
//
// Deliberately malformed events carry "injected":true.
package sim
