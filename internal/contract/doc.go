// Package contract loads the Meerkat 0.8.26 wire contract (the JSON files in
// shared/contracts/meerkat-0.8.26, outside this repository) and validates
// JSON-RPC messages against it: what a runtime such as rkat-rpc or rkat-sim
// writes on stdout, and the params a client sends.
//
// [Dir] finds the contract ($MOBD_CONTRACT_DIR, else beside an ancestor of
// the working directory), [Load] compiles every schema once (about a quarter
// of a second) into an immutable [Contract] that is safe for concurrent use,
// and [Contract.ValidateOutbound], [Contract.ValidateParams] and
// [Contract.ValidateTranscript] check messages. Schemas are JSON Schema
// draft 2020-12, compiled with github.com/santhosh-tekuri/jsonschema/v6.
//
// # What is checked
//
// Every message must be a JSON-RPC 2.0 frame with nothing else in it:
// jsonrpc "2.0"; a response has an id (integer, string or null) and exactly
// one of result and error, an error being {code int, message string, data?};
// a notification has a method and an object params and no id; a
// server-to-client request has an id (integer or string), a method and an
// object params.
//
// A result is checked against the result_type that rpc-methods.json gives
// the request's method. A union such as "WireRunResult |
// DeferredCreateResult" accepts a result matching any alternative. A type's
// schema is looked up by name, first match wins: a top-level key of
// params.json (a standalone schema with its own $defs), components.schemas
// of rest-openapi.json (compiled with the whole document as one resource, so
// "#/components/schemas/X" references resolve; OpenAPI 3.1 schemas are JSON
// Schema 2020-12 and this document uses no OpenAPI-only keyword), a
// top-level key of events.json, capabilities.json, errors.json, models.json
// or runtime-host.json, and last the hand-written schemas below. A result
// whose type has no schema anywhere is reported with [ErrNoSchema] (and
// counted in [Report].Unvalidated), never passed silently;
// [Contract.UnvalidatedResults] lists those methods. Error responses are
// checked for shape only, whatever the method, since a runtime answers
// unknown methods with -32601; a result for a method the contract does not
// know is an error.
//
// Server notifications: session/event params are exactly {session_id,
// event}; session/stream_event {stream_id, sequence, session_id, event};
// session/stream_end {stream_id, session_id, ended, outcome, error?};
// mob/stream_event {stream_id, sequence, event} where event is an
// AttributedEvent {source{identity non-empty, generation int >= 0}, role,
// envelope, source_fence_token?} or a bare envelope; mob/stream_end
// {stream_id, ended, outcome, error?}. Stream events may also carry
// scope_id and scope_path. The contract has no schema for any of these, so
// they are hand-written from protocol.md §4. initialized and cancel go
// client to server; a runtime sending them is an error. The only
// server-to-client request is tool/execute, params {name, arguments object}.
//
// An event envelope is checked three ways: against rest-openapi.json
// EventEnvelope; its payload against events.json AgentEvent; and against the
// SDK's strictness (protocol.md §4.3): event_id a canonical lowercase
// hyphenated UUID, session_id of a session source and interaction_id of an
// interaction source likewise, mob_id a non-empty string when present (null
// tolerated), no keys beyond event_id, source, seq, timestamp_ms, payload and
// mob_id. Both AgentEvent schemas are a oneOf over ~40 variants keyed by a
// const payload.type; Load checks that the keys are distinct and required,
// and then compiles each variant on its own, so a payload is checked against
// its own variant only: several times faster than the oneOf, with errors
// that name the missing field rather than forty mismatches. A payload type
// neither schema knows is reported as such.
//
// Formats are asserted. The integer widths schemars writes (uint8 … uint64,
// uint, int8 … int64) must be integer literals within range (serde rejects
// 1.0 and 2^32 for a u32), and date-time must be RFC 3339. Other unknown
// formats (float) are ignored.
//
// # Hand-written schemas
//
// Embedded from schemas/, each following reference/protocol.md (section
// given in its description). Types named in rpc-methods.json that neither
// params.json nor rest-openapi.json defines, in schemas/types/<Type>.json:
//
//   - ServerCapabilities (initialize): {server_info{name, version},
//     contract_version string, methods?[string]}
//   - DeferredCreateResult (session/create, deferred): {session_id,
//     session_ref?}
//   - Value (session/archive, session/export_atif, schedule/call): any JSON
//   - WireSessionInfo (session/read)
//   - InterruptResult (turn/interrupt): {interrupted, result
//     interrupted|staged_noop, session_id}
//   - ToolsRegisterResult (tools/register): {registered}
//   - SessionStreamOpenResult, MobStreamOpenResult: {stream_id non-empty}
//   - ConfigWriteResult (config/set, config/patch): rest-openapi
//     ConfigEnvelope
//   - MobCreateResult, MobListResult, MobStatusResult, MobMembersResult,
//     MobSpawnResult, MobSpawnManyResult, MobRespawnResult,
//     MobMemberSendResult, MobEventsResult (only {events:[…]} is pinned)
//   - MobFlowsResult, MobFlowRunResult (mob/flow_run, mob/run),
//     MobFlowStatusResult, MobRunResult
//   - params: CreateSessionParams, StartTurnParams (the SDK's keys only,
//     never null), ConfigSetParams, ConfigPatchParams,
//     MobWireMembersBatchParams, MobRunResultParams
//
// Where protocol.md gives a complete field list the schema admits no other
// keys; where it writes "…" (mob/list entries, flow run records,
// mob/events) it does not. Opaque values (member_ref, source_fence_token,
// structured data) are unconstrained.
//
// Wire shapes the contract has no schema for, in schemas/wire/: the three
// JSON-RPC frames (response.json, notification.json, request.json), the
// params of the five server notifications and of tool/execute,
// attributed-event.json, envelope-strict.json, and no-params.json (params of
// a method without params_type: an object).
//
// Every other result type without a schema (jobs/*, live/*, approvals,
// artifacts, transcript revisions, session and mob stream close, mob
// lifecycle, retire, wire, unwire, profiles, grants…) is left unvalidated:
// protocol.md does not describe it, and inventing a shape would only hide
// that.
//
// # Speed
//
// One session/event notification takes about 25 µs to validate (decode,
// frame, params, envelope three ways); a transcript of 200 000 lines takes a
// few seconds, several times that under the race detector.
package contract
