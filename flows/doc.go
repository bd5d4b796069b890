// Package flows is mobd's model of Meerkat mob definitions and their flows:
// loading them (JSON, and TOML as Meerkat writes it), validating them,
// writing them back, and the pieces an executor needs to run them —
// dependency plans, message templates, conditions, schemas — plus a typed Go
// DSL that builds the same model. It does not run anything: execution on
// actors, the run journal and the flow test harness build on this model.
//
// # Definitions
//
// A [Definition] is Meerkat's MobDefinition with the same field names and
// enums (mobs.md, and MobCreateParams in the 0.8.26 contract): id,
// orchestrator, profiles (model, provider, skills, tools, peer description,
// output schema, provider params, runtime mode, ...), custom models, inline
// or path skills, wiring (auto-wire orchestrator, role wiring), topology
// (advisory or strict rules), supervisor (role, escalation threshold),
// limits, spawn policy, event router and flows. It is plain data:
// exported fields, no live objects, JSON via [Definition.MarshalJSON].
//
//	def, err := flows.LoadFile("mob.toml") // or LoadJSON, LoadTOML, Load
//	var verr *flows.ValidationError
//	if errors.As(err, &verr) {
//		for _, fe := range verr.Errors {
//			fmt.Println(fe.Path, fe.Msg) // e.g. profiles.lead.tools.mcp_servers: not supported by mobd
//		}
//	}
//
// Loading is strict and reports every problem at once, each named by the
// path of its field: syntax errors, unknown keys (as Meerkat's mob/create
// rejects them), values of the wrong type or out of range, unknown enum
// values, and Meerkat features mobd does not support yet — external
// backends, realm profile references, MCP servers, Rust tool bundles, image
// generation, external addressability, signed-mobpack provenance
// (source_identity), and the profile settings a runtime session cannot be
// given (auto_compact_threshold, max_inline_peer_notifications,
// tools.read_only). Those are never ignored: a present, non-empty value is
// a problem matching [ErrUnsupportedField]; an empty one (false, [], null)
// says nothing and is accepted. Every error is a *[ValidationError]
// wrapping [ErrInvalidDefinition].
//
// In TOML, id and orchestrator live in the [mob] table (orchestrator may be
// a bare profile name there); everything else is top-level tables, exactly
// as in JSON. The two forms load into equal models.
//
// # Validation
//
// [Definition.Validate] (run by the loaders) checks that the orchestrator,
// supervisor, wiring, topology, spawn-policy and step roles name profiles;
// that profile skills exist; that every flow has steps whose dependencies
// exist, without cycles (each cycle is named: "a -> b -> c -> a"); that
// quorum n is between 1 and 255 (and only set for quorum); that timeouts
// are positive; that templates parse and reference only the run's params,
// ancestors of the step, and loops before it or around it; that conditions
// are well formed; that expected schemas compile; and the rules of branches,
// frames and extensions below.
//
// Step timeouts are not an error when longer than limits.max_flow_duration_ms:
// [StepSpec.Timeout] clamps them to the flow deadline (default 30s per step).
//
// # Flows
//
// A [FlowSpec] is Meerkat's FlowSpec: steps in declaration order (Meerkat's
// IndexMap — the JSON and TOML decoders keep document order) and, optionally,
// a root frame tree. Without root, steps carry their own depends_on,
// depends_on_mode (all/any), branch and failure_policy (escalate/continue).
// With root, [FrameSpec] nodes place each step exactly once, and
// repeat_until nodes ([RepeatUntilSpec]) run a body frame until a condition
// holds or max_iterations is reached; the steps' own dependency fields must
// then be empty (they would otherwise be silently ignored).
//
// [FlowSpec.Plan] gives the executor the structure: a [Plan] of frames, each
// with its nodes in topological order (declaration order among nodes free
// to go), their dependencies, dependents and loop bodies.
//
// Branches: steps of a frame sharing a branch id are mutually exclusive
// alternatives. mobd checks that they share the same dependencies, that at
// most one of them has no condition (the default alternative), and that a
// step joining two or more of them uses depends_on_mode any (with all it
// could never run).
//
// Loaded steps carry their defaults explicitly: depends_on_mode all,
// dispatch_mode fan_out, collection_policy all, failure_policy escalate,
// output_format json when the step has an expected schema and text
// otherwise (an explicit text with a schema is an error). MarshalJSON leaves
// defaults out again.
//
// # Schemas
//
// expected_schema_ref is a string: JSON-object text is an inline schema;
// anything else names a schema file, resolved relative to the definition's
// directory ([LoadFile]) or [LoadOptions.Schemas] — never outside it. The
// resolved schema is compiled (JSON Schema 2020-12, external references
// refused) and kept in [StepSpec.ExpectedSchema]; [StepSpec.ValidateOutput]
// checks a structured output against it. [Definition.WithInlineSchemas]
// inlines named refs, for a self-contained copy to persist.
//
// # Templates and conditions
//
// Messages ([Message]: text, or multimodal blocks whose text blocks are
// templated) use placeholders parsed by [ParseTemplate]:
//
//	{{ params.<path> }}
//	{{ steps.<id>.output.<path> }}   (".output" may be left out)
//	{{ loops.<loop>.iterations.<n>.steps.<id>.<path> }}
//
// rendered from a [Scope] by [Template.Render] or [Message.Render]: strings
// as text, other values as JSON; a step or iteration without output as
// null; a missing field under a present value, or an index into a scalar,
// fails closed with a *[TemplateError] wrapping a *[PathError].
//
// A [Condition] (eq, in, gt, lt, and, or, not) uses the same paths.
// [Condition.Eval] compares numbers exactly, strings lexically, and treats
// an unresolvable path as false, as Meerkat does.
//
// # mobd extensions
//
// What Meerkat's format cannot say lives under a "mobd" key, on a step or a
// flow, never mixed with Meerkat's keys:
//
//   - mobd.retry on a step: a [RetryPolicy] (attempts, capped exponential
//     backoff, which [FailureClass]es retry), replacing the mob-wide
//     limits.max_step_retries for that step;
//   - mobd.budget on a step or a flow: a token [Budget] per step or per run
//     (a step's may not exceed its run's);
//   - mobd.approval on a step: an [Approval] step, which has no role and
//     waits for a human decision ([ApprovalDecision] is its output).
//
// A definition that uses them loads and round-trips through MarshalJSON;
// [Definition.MeerkatJSON] and [FlowSpec.MeerkatJSON] refuse it with a
// *[NotExpressibleError] ([ErrNotExpressible]) naming the extension.
//
// # Flows in Go
//
// [NewFlow] builds a flow in Go, typed: P is the run params' type, and
// each [Step] declares its output type, whose JSON Schema ([SchemaFor]) becomes
// the step's expected schema. [Ref] values refer to params or outputs;
// their fields are checked against the types when the flow is built.
//
//	f := flows.NewFlow[Topic]("research")
//	plan := flows.Step[Plan](f, "plan", "lead", flows.Text("Plan research on "+f.Params().Field("subject")))
//	dig := flows.Then[Finding](f, plan, "dig", "analyst", func(p flows.Ref[Plan]) flows.Message {
//		return flows.Text("Investigate " + p.Field("questions", "0"))
//	}, flows.Retry(flows.RetryPolicy{Attempts: 3}))
//	spec, err := f.Spec()       // the same FlowSpec a loaded flow is
//	raw, err := f.MeerkatJSON() // ErrNotExpressible here: Retry is a mobd extension
//
// Loops: [RepeatUntil] returns a [*Loop] that is itself a [Builder] for its
// body; [Loop.Until] sets the exit condition and [Ref.InIteration] refers to
// an iteration's output. A Go flow without extensions converts to Meerkat
// JSON and loads back into an equal model.
//
// # Concurrency
//
// Loaded definitions, templates and plans are values: safe for concurrent
// reads. Builders (Flow, Loop) are for one goroutine.
package flows
