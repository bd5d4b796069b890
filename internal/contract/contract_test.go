package contract_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/internal/contract"
)

var (
	loadOnce sync.Once
	loaded   *contract.Contract
	loadErr  error
)

// load returns the contract, loaded once for the whole test binary. A
// missing contract fails the test: it never skips.
func load(t testing.TB) *contract.Contract {
	t.Helper()
	loadOnce.Do(func() {
		dir, err := contract.Dir()
		if err != nil {
			loadErr = err
			return
		}
		loaded, loadErr = contract.Load(dir)
	})
	if loadErr != nil {
		t.Fatalf("load contract: %v", loadErr)
	}
	return loaded
}

func TestDir(t *testing.T) {
	dir, err := contract.Dir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rpc-methods.json")); err != nil {
		t.Fatalf("Dir() = %s: %v", dir, err)
	}

	t.Setenv(contract.EnvDir, dir)
	if got, err := contract.Dir(); err != nil || got != dir {
		t.Errorf("with %s set: Dir() = %q, %v; want %q", contract.EnvDir, got, err, dir)
	}
	t.Setenv(contract.EnvDir, t.TempDir())
	if got, err := contract.Dir(); err == nil {
		t.Errorf("with %s pointing at an empty directory: Dir() = %q, want an error", contract.EnvDir, got)
	}
}

func TestDirNotFound(t *testing.T) {
	t.Setenv(contract.EnvDir, "")
	t.Chdir(t.TempDir())
	if got, err := contract.Dir(); err == nil {
		t.Errorf("Dir() from a temp dir = %q, want an error", got)
	}
}

func TestLoad(t *testing.T) {
	dir, err := contract.Dir()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := contract.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Load took %v", time.Since(start))

	if c.Version() != "0.8.26" {
		t.Errorf("Version() = %q", c.Version())
	}
	methods := c.Methods()
	for _, m := range []string{"initialize", "session/create", "turn/start", "capabilities/get", "mob/create", "tools/register"} {
		if !slices.Contains(methods, m) {
			t.Errorf("Methods() lacks %s", m)
		}
	}
	if len(methods) < 100 {
		t.Errorf("Methods() has %d entries", len(methods))
	}
	want := []string{"initialized", "cancel", "session/event", "session/stream_event", "session/stream_end", "mob/stream_event", "mob/stream_end"}
	if got := c.Notifications(); !slices.Equal(got, want) {
		t.Errorf("Notifications() = %v, want %v", got, want)
	}
	if got := c.ResultTypes("session/create"); !slices.Equal(got, []string{"WireRunResult", "DeferredCreateResult"}) {
		t.Errorf("ResultTypes(session/create) = %v", got)
	}
	if _, err := contract.Load(t.TempDir()); err == nil {
		t.Error("Load(empty dir) succeeded")
	}
}

// TestSchemaSources pins where the types the simulated runtime must produce
// get their schemas, and that no hand-written schema shadows one of the
// contract's.
func TestSchemaSources(t *testing.T) {
	c := load(t)
	for typ, want := range map[string]string{
		"WireRunResult":        contract.SourceOpenAPI,
		"CapabilitiesResponse": contract.SourceOpenAPI,
		"ListSessionsResult":   contract.SourceOpenAPI,
		"WireSessionHistory":   contract.SourceOpenAPI,
		"ConfigEnvelope":       contract.SourceOpenAPI,
		"SkillListResponse":    contract.SourceOpenAPI,
		"InterruptParams":      contract.SourceParams,
		"ToolsRegisterParams":  contract.SourceParams,
		"ServerCapabilities":   contract.SourceHandWritten,
		"DeferredCreateResult": contract.SourceHandWritten,
		"Value":                contract.SourceHandWritten,
		"CreateSessionParams":  contract.SourceHandWritten,
		"JobsGetResult":        "",
	} {
		if got := c.TypeSource(typ); got != want {
			t.Errorf("TypeSource(%s) = %q, want %q", typ, got, want)
		}
	}

	entries, err := os.ReadDir("schemas/types")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range c.Methods() {
		for _, r := range c.ResultTypes(m) {
			named[r] = true
		}
	}
	for _, e := range entries {
		typ := strings.TrimSuffix(e.Name(), ".json")
		if got := c.TypeSource(typ); got != contract.SourceHandWritten {
			t.Errorf("schemas/types/%s: TypeSource = %q; a hand-written schema must fill a gap, not shadow the contract", e.Name(), got)
		}
		if !strings.HasSuffix(typ, "Params") && !named[typ] {
			t.Errorf("schemas/types/%s: no method has result type %s", e.Name(), typ)
		}
	}
}

// TestUnvalidatedResults lists the methods whose result nothing describes,
// and makes sure the ones a faithful runtime must serve (protocol.md §8) are
// not among them.
func TestUnvalidatedResults(t *testing.T) {
	c := load(t)
	un := c.UnvalidatedResults()
	t.Logf("%d of %d methods have no result schema: %s", len(un), len(c.Methods()), strings.Join(un, " "))
	for _, m := range []string{
		"initialize", "capabilities/get", "tools/register",
		"session/create", "turn/start", "turn/interrupt", "session/read", "session/list",
		"session/history", "session/archive", "session/stream_open",
		"config/get", "config/set", "config/patch", "skills/list", "comms/send", "comms/peers",
		"mob/create", "mob/list", "mob/status", "mob/members", "mob/spawn", "mob/spawn_many",
		"mob/respawn", "mob/member_send", "mob/wire_members_batch", "mob/events",
		"mob/flows", "mob/flow_run", "mob/run", "mob/flow_status", "mob/run_result", "mob/stream_open",
	} {
		if slices.Contains(un, m) {
			t.Errorf("%s has no result schema", m)
		}
	}
}

const (
	sid  = "019a8f3e-1c2d-7e4f-8a9b-0c1d2e3f4a5b"
	eid  = "6f1c0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
	usge = `{"input_tokens":12,"output_tokens":3,"total_tokens":15}`
)

func response(id, result string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"result":` + result + `}`
}

func errResponse(id, e string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"error":` + e + `}`
}

func notification(method, params string) string {
	return `{"jsonrpc":"2.0","method":"` + method + `","params":` + params + `}`
}

// envelope builds an event envelope around payload; edit adjusts its fields.
func envelope(payload string, edit func(map[string]any)) string {
	env := map[string]any{
		"event_id":     eid,
		"source":       map[string]any{"type": "session", "session_id": sid},
		"seq":          7,
		"timestamp_ms": 1732540000000,
		"payload":      json.RawMessage(payload),
	}
	if edit != nil {
		edit(env)
	}
	b, err := json.Marshal(env)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sessionEvent(payload string, edit func(map[string]any)) string {
	return notification("session/event", `{"session_id":"`+sid+`","event":`+envelope(payload, edit)+`}`)
}

type outboundCase struct {
	name, kind, method, msg string
	// wantErr: "" passes; "ErrNoSchema" must wrap ErrNoSchema; otherwise a
	// substring of the error.
	wantErr string
}

func runOutbound(t *testing.T, cases []outboundCase) {
	t.Helper()
	c := load(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := c.ValidateOutbound(tc.kind, tc.method, []byte(tc.msg))
			switch {
			case tc.wantErr == "":
				if err != nil {
					t.Fatalf("want valid, got: %v", err)
				}
			case tc.wantErr == "ErrNoSchema":
				if !errors.Is(err, contract.ErrNoSchema) {
					t.Fatalf("want ErrNoSchema, got: %v", err)
				}
			case err == nil:
				t.Fatalf("want error containing %q, got none", tc.wantErr)
			case errors.Is(err, contract.ErrNoSchema):
				t.Fatalf("want a validation error, got ErrNoSchema: %v", err)
			case !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want error containing %q, got: %v", tc.wantErr, err)
			default:
				t.Logf("rejected as expected: %v", err)
			}
		})
	}
}

func TestResults(t *testing.T) {
	wireRun := `{"session_id":"` + sid + `","session_ref":null,"text":"Hi!","turns":1,"tool_calls":0,"usage":` + usge + `,"structured_output":null,"schema_warnings":null}`
	runOutbound(t, []outboundCase{
		// initialize: hand-written ServerCapabilities.
		{"initialize", "response", "initialize",
			response("1", `{"server_info":{"name":"meerkat-rpc","version":"0.8.26"},"contract_version":"0.8.26","methods":["initialize","session/create"]}`), ""},
		{"initialize without methods", "response", "initialize",
			response("1", `{"server_info":{"name":"meerkat-rpc","version":"0.8.26"},"contract_version":"0.8.26"}`), ""},
		{"initialize without server_info", "response", "initialize",
			response("1", `{"contract_version":"0.8.26","capabilities":[]}`), "server_info"},
		{"initialize with object contract_version", "response", "initialize",
			response("1", `{"server_info":{"name":"m","version":"0.8.26"},"contract_version":{"major":0,"minor":8,"patch":26}}`), "contract_version"},

		// capabilities/get: rest-openapi CapabilitiesResponse.
		{"capabilities", "response", "capabilities/get",
			response("2", `{"contract_version":{"major":0,"minor":8,"patch":26},"capabilities":[{"id":"sessions","description":"Sessions","status":"Available"},{"id":"shell","description":"Shell","status":{"DisabledByPolicy":{"description":"Disabled by config"}}},{"id":"comms","description":"Comms","status":{"NotCompiled":{"feature":"comms"}}}]}`), ""},
		{"capabilities bad status string", "response", "capabilities/get",
			response("2", `{"contract_version":{"major":0,"minor":8,"patch":26},"capabilities":[{"id":"sessions","description":"Sessions","status":"Enabled"}]}`), "status"},
		{"capabilities empty status", "response", "capabilities/get",
			response("2", `{"contract_version":{"major":0,"minor":8,"patch":26},"capabilities":[{"id":"sessions","description":"Sessions","status":{}}]}`), "status"},
		{"capabilities status variant without its field", "response", "capabilities/get",
			response("2", `{"contract_version":{"major":0,"minor":8,"patch":26},"capabilities":[{"id":"shell","description":"Shell","status":{"DisabledByPolicy":{}}}]}`), "description"},
		{"capabilities string contract_version", "response", "capabilities/get",
			response("2", `{"contract_version":"0.8.26","capabilities":[]}`), "contract_version"},

		// WireRunResult and the session/create union.
		{"turn/start", "response", "turn/start", response("5", wireRun), ""},
		{"turn/start missing usage", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"Hi!","turns":1,"tool_calls":0}`), "usage"},
		{"turn/start usage without total_tokens", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"","turns":1,"tool_calls":0,"usage":{"input_tokens":1,"output_tokens":2}}`), "total_tokens"},
		{"turn/start negative turns", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"","turns":-1,"tool_calls":0,"usage":`+usge+`}`), "turns"},
		{"turn/start turns as float literal", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"","turns":1.0,"tool_calls":0,"usage":`+usge+`}`), "integer literal"},
		{"turn/start turns beyond u32", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"","turns":4294967296,"tool_calls":0,"usage":`+usge+`}`), "u32"},
		{"turn/start bad terminal_cause_kind", "response", "turn/start",
			response("5", `{"session_id":"`+sid+`","text":"","turns":1,"tool_calls":0,"usage":`+usge+`,"terminal_cause_kind":"bored"}`), "terminal_cause_kind"},
		{"session/create run result", "response", "session/create", response("4", wireRun), ""},
		{"session/create deferred", "response", "session/create",
			response("4", `{"session_id":"`+sid+`","session_ref":null}`), ""},
		{"session/create deferred without session_ref", "response", "session/create",
			response("4", `{"session_id":"`+sid+`"}`), ""},
		{"session/create neither alternative", "response", "session/create",
			response("4", `{"session_id":"`+sid+`","text":"Hi!"}`), "matches no alternative of WireRunResult | DeferredCreateResult"},
		{"session/create empty result", "response", "session/create", response("4", `{}`), "DeferredCreateResult"},

		// Other hand-written and contract results.
		{"turn/interrupt", "response", "turn/interrupt",
			response("6", `{"interrupted":true,"result":"interrupted","session_id":"`+sid+`"}`), ""},
		{"turn/interrupt bad result", "response", "turn/interrupt",
			response("6", `{"interrupted":true,"result":"stopped","session_id":"`+sid+`"}`), "result"},
		{"session/read", "response", "session/read",
			response("7", `{"session_id":"`+sid+`","session_ref":null,"created_at":1732540000,"updated_at":1732540001,"message_count":2,"labels":{"team":"a"},"is_active":false,"model":"claude-sonnet-4-6","provider":"anthropic","last_assistant_text":"Hi!"}`), ""},
		{"session/read string timestamps", "response", "session/read",
			response("7", `{"session_id":"`+sid+`","created_at":"2025-01-01T00:00:00Z","updated_at":1,"message_count":2,"is_active":false,"model":"m","provider":"anthropic"}`), "created_at"},
		{"session/list", "response", "session/list",
			response("8", `{"sessions":[{"session_id":"`+sid+`","created_at":1,"updated_at":2,"message_count":2,"total_tokens":15,"is_active":false}]}`), ""},
		{"session/list missing total_tokens", "response", "session/list",
			response("8", `{"sessions":[{"session_id":"`+sid+`","created_at":1,"updated_at":2,"message_count":2,"is_active":false}]}`), "total_tokens"},
		{"session/archive is a Value", "response", "session/archive", response("9", `{"archived":true}`), ""},
		{"tools/register", "response", "tools/register", response("3", `{"registered":1}`), ""},
		{"session/stream_open empty id", "response", "session/stream_open", response("3", `{"stream_id":""}`), "stream_id"},
		{"config/set envelope", "response", "config/set",
			response("10", `{"config":{},"generation":2,"realm_id":"r","instance_id":null,"backend":"sqlite","resolved_paths":null}`), ""},
		{"config/set without generation", "response", "config/set", response("10", `{"config":{}}`), "generation"},
		{"mob/create", "response", "mob/create", response("11", `{"mob_id":"triage"}`), ""},
		{"mob/spawn_many", "response", "mob/spawn_many",
			response("12", `{"results":[{"status":"spawned","result":{"agent_identity":"w1","member_ref":"m1"}},{"status":"failed","result":{"cause":"profile_not_found","message":"no such profile"}}]}`), ""},
		{"mob/spawn_many bad cause", "response", "mob/spawn_many",
			response("12", `{"results":[{"status":"failed","result":{"cause":"Profile Not Found","message":"x"}}]}`), "cause"},
		{"mob/status object status", "response", "mob/status",
			response("13", `{"mob_id":"triage","status":{"Running":{}}}`), ""},
		{"mob/status unknown state", "response", "mob/status",
			response("13", `{"mob_id":"triage","status":"Sleeping"}`), "status"},

		{"mob/list", "response", "mob/list",
			response("13", `{"mobs":[{"mob_id":"triage","status":"Running","flows":["review"]}]}`), ""},
		{"mob/members", "response", "mob/members",
			response("13", `{"mob_id":"triage","members":[{"agent_identity":"lead","member_ref":{"session_id":"`+sid+`"},"role":"lead","runtime_mode":"autonomous_host","wired_to":["w1"],"labels":{},"status":"active","is_final":false,"peer_id":null}]}`), ""},
		{"mob/members unknown member key", "response", "mob/members",
			response("13", `{"mob_id":"triage","members":[{"agent_identity":"lead","member_ref":"m","role":"lead","profile":"lead"}]}`), "profile"},
		{"mob/spawn", "response", "mob/spawn", response("13", `{"mob_id":"triage","agent_identity":"w1","member_ref":"m1"}`), ""},
		{"mob/respawn", "response", "mob/respawn",
			response("13", `{"status":"topology_restore_failed","receipt":{"identity":"w1","member_ref":"m2"},"failed_peer_ids":["p1"]}`), ""},
		{"mob/member_send", "response", "mob/member_send",
			response("13", `{"mob_id":"triage","agent_identity":"w1","member_ref":"m1","handling_mode":"steer"}`), ""},
		{"mob/flows", "response", "mob/flows", response("13", `{"mob_id":"triage","flows":["review"]}`), ""},
		{"mob/run", "response", "mob/run", response("13", `{"run_id":"run-1"}`), ""},
		{"mob/flow_status", "response", "mob/flow_status",
			response("13", `{"run":{"run_id":"run-1","mob_id":"triage","flow_id":"review","status":"completed","step_ledger":[]}}`), ""},
		{"mob/flow_status bad run status", "response", "mob/flow_status",
			response("13", `{"run":{"run_id":"run-1","mob_id":"triage","flow_id":"review","status":"done"}}`), "status"},
		{"mob/run_result null run", "response", "mob/run_result", response("13", `{"run":null}`), ""},
		{"mob/wire_members_batch", "response", "mob/wire_members_batch",
			response("13", `{"requested":1,"wired":[{"a":"lead","b":"w1"}],"already_wired":[]}`), ""},
		{"comms/send", "response", "comms/send",
			response("13", `{"kind":"input_accepted","interaction_id":"i1","stream_reserved":false}`), ""},

		// No schema anywhere: never a silent pass.
		{"mob/retire has no schema", "response", "mob/retire", response("14", `{}`), "ErrNoSchema"},
		{"jobs/get has no schema", "response", "jobs/get", response("14", `{"anything":1}`), "ErrNoSchema"},

		// Errors, for any method.
		{"error without data", "response", "session/read",
			errResponse("7", `{"code":-32001,"message":"Session not found: `+sid+`"}`), ""},
		{"error with data", "response", "mob/rotate_supervisor",
			errResponse("7", `{"code":-32024,"message":"rotation","data":{"code":"SUPERVISOR_ROTATION_INCOMPLETE","message":"rotation","details":{}}}`), ""},
		{"error for unknown method", "response", "bogus/method",
			errResponse("7", `{"code":-32601,"message":"Method not found"}`), ""},
		{"error with null id", "response", "", errResponse("null", `{"code":-32700,"message":"Parse error"}`), ""},
		{"error with string id", "response", "turn/start", errResponse(`"a"`, `{"code":-32002,"message":"busy"}`), ""},
		{"error code as string", "response", "turn/start", errResponse("7", `{"code":"-32002","message":"busy"}`), "code"},
		{"error code as float", "response", "turn/start", errResponse("7", `{"code":-32002.5,"message":"busy"}`), "code"},
		{"error without message", "response", "turn/start", errResponse("7", `{"code":-32002}`), "message"},
		{"error with extra key", "response", "turn/start", errResponse("7", `{"code":-32002,"message":"busy","category":"session"}`), "category"},

		// Frames.
		{"result for unknown method", "response", "bogus/method", response("7", `{}`), "unknown method"},
		{"result without method", "response", "", response("7", `{}`), "method"},
		{"both result and error", "response", "session/archive",
			`{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}`, "oneOf"},
		{"neither result nor error", "response", "session/archive", `{"jsonrpc":"2.0","id":1}`, "oneOf"},
		{"missing id", "response", "session/archive", `{"jsonrpc":"2.0","result":{}}`, "id"},
		{"object id", "response", "session/archive", `{"jsonrpc":"2.0","id":{},"result":{}}`, "id"},
		{"wrong jsonrpc", "response", "session/archive", `{"jsonrpc":"1.0","id":1,"result":{}}`, "jsonrpc"},
		{"extra member", "response", "session/archive", `{"jsonrpc":"2.0","id":1,"result":{},"method":"x"}`, "method"},
		{"not JSON", "response", "session/archive", `{"jsonrpc":`, "not a JSON value"},
		{"trailing data", "response", "session/archive", `{"jsonrpc":"2.0","id":1,"result":{}} {}`, "not a JSON value"},
		{"unknown kind", "reply", "session/archive", response("1", `{}`), "unknown message kind"},
	})
}

func TestNotifications(t *testing.T) {
	textDelta := `{"type":"text_delta","delta":"Hel"}`
	runStarted := `{"type":"run_started","session_id":"` + sid + `","input":{"kind":"content","content":"Hello"}}`
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	const stream = "5b0d2c1e-8f7a-4b3c-9d2e-1f0a9b8c7d6e"
	attributed := func(source, payload, extra string) string {
		return notification("mob/stream_event", `{"stream_id":"s1","sequence":3,"event":{"source":`+source+`,"role":"worker","envelope":`+envelope(payload, nil)+extra+`}}`)
	}
	runOutbound(t, []outboundCase{
		{"text_delta", "notification", "session/event", sessionEvent(textDelta, nil), ""},
		{"method taken from the message", "notification", "", sessionEvent(textDelta, nil), ""},
		{"uppercase event_id", "notification", "", sessionEvent(textDelta, set("event_id", strings.ToUpper(eid))), "event_id"},
		{"event_id not a UUID", "notification", "", sessionEvent(textDelta, set("event_id", "evt-1")), "event_id"},
		{"session source id not a UUID", "notification", "", sessionEvent(textDelta,
			set("source", map[string]any{"type": "session", "session_id": "s1"})), "session_id"},
		{"runtime source", "notification", "", sessionEvent(textDelta,
			set("source", map[string]any{"type": "runtime", "runtime_id": "rt-1"})), ""},
		{"callback source", "notification", "", sessionEvent(textDelta, set("source", map[string]any{"type": "callback"})), ""},
		{"unknown source type", "notification", "", sessionEvent(textDelta, set("source", map[string]any{"type": "agent"})), "source"},
		{"missing seq", "notification", "", sessionEvent(textDelta, del("seq")), "seq"},
		{"negative seq", "notification", "", sessionEvent(textDelta, set("seq", -1)), "seq"},
		{"timestamp as string", "notification", "", sessionEvent(textDelta, set("timestamp_ms", "1732540000000")), "timestamp_ms"},
		{"mob_id", "notification", "", sessionEvent(textDelta, set("mob_id", "triage")), ""},
		{"null mob_id", "notification", "", sessionEvent(textDelta, set("mob_id", nil)), ""},
		{"empty mob_id", "notification", "", sessionEvent(textDelta, set("mob_id", "")), "mob_id"},
		{"extra envelope key", "notification", "", sessionEvent(textDelta, set("timestamp", 1)), "timestamp"},
		{"run_started", "notification", "", sessionEvent(runStarted, nil), ""},
		{"run_started without input", "notification", "", sessionEvent(`{"type":"run_started","session_id":"`+sid+`"}`, nil), "missing property 'input'"},
		{"run_started legacy prompt", "notification", "", sessionEvent(`{"type":"run_started","session_id":"`+sid+`","prompt":"Hello"}`, nil), "input"},
		{"text_delta without delta", "notification", "", sessionEvent(`{"type":"text_delta"}`, nil), "delta"},
		{"turn_completed bad stop_reason", "notification", "", sessionEvent(`{"type":"turn_completed","stop_reason":"done"}`, nil), "stop_reason"},
		{"turn_completed", "notification", "", sessionEvent(`{"type":"turn_completed","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2,"accounting":{"provider":"anthropic","model":"claude-sonnet-4-6","presented_tokens":1,"convention":"anthropic_disjoint_input_components","aggregation":"sum_disjoint_provider_components"}}}`, nil), ""},
		{"turn_completed without usage", "notification", "", sessionEvent(`{"type":"turn_completed","stop_reason":"cancelled"}`, nil), ""},
		{"turn_completed usage without accounting", "notification", "", sessionEvent(`{"type":"turn_completed","stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}`, nil), "accounting"},
		{"unknown payload type", "notification", "", sessionEvent(`{"type":"text_deltas","delta":"x"}`, nil), `payload type "text_deltas" is not an AgentEvent variant`},
		{"payload without type", "notification", "", sessionEvent(`{"delta":"x"}`, nil), "type"},
		{"bare payload instead of envelope", "notification", "",
			notification("session/event", `{"session_id":"`+sid+`","event":`+textDelta+`}`), "event_id"},
		{"session/event extra key", "notification", "",
			notification("session/event", `{"session_id":"`+sid+`","sequence":1,"event":`+envelope(textDelta, nil)+`}`), "sequence"},
		{"session/event without session_id", "notification", "",
			notification("session/event", `{"event":`+envelope(textDelta, nil)+`}`), "session_id"},
		{"method mismatch", "notification", "session/stream_event", sessionEvent(textDelta, nil), "expected"},
		{"notification with id", "notification", "", `{"jsonrpc":"2.0","id":1,"method":"session/event","params":{}}`, "id"},
		{"notification without params", "notification", "", `{"jsonrpc":"2.0","method":"session/event"}`, "params"},
		{"unknown notification", "notification", "", notification("session/progress", `{}`), "unknown notification"},
		{"client notification from runtime", "notification", "", notification("initialized", `{}`), "client to server"},

		{"session/stream_event", "notification", "",
			notification("session/stream_event", `{"stream_id":"`+stream+`","sequence":1,"session_id":"`+sid+`","event":`+envelope(textDelta, nil)+`}`), ""},
		{"session/stream_event scoped", "notification", "",
			notification("session/stream_event", `{"stream_id":"`+stream+`","sequence":1,"session_id":"`+sid+`","scope_id":"b1","scope_path":[{"kind":"branch"}],"event":`+envelope(textDelta, nil)+`}`), ""},
		{"session/stream_event without sequence", "notification", "",
			notification("session/stream_event", `{"stream_id":"`+stream+`","session_id":"`+sid+`","event":`+envelope(textDelta, nil)+`}`), "sequence"},
		{"session/stream_event bad envelope", "notification", "",
			notification("session/stream_event", `{"stream_id":"`+stream+`","sequence":1,"session_id":"`+sid+`","event":`+envelope(textDelta, del("event_id"))+`}`), "event_id"},
		{"session/stream_end", "notification", "",
			notification("session/stream_end", `{"stream_id":"`+stream+`","session_id":"`+sid+`","ended":true,"outcome":"remote_end","error":{"code":"SESSION_ARCHIVED","message":"archived"}}`), ""},
		{"session/stream_end without outcome", "notification", "",
			notification("session/stream_end", `{"stream_id":"`+stream+`","session_id":"`+sid+`","ended":true}`), "outcome"},
		{"session/stream_end numeric error code", "notification", "",
			notification("session/stream_end", `{"stream_id":"`+stream+`","session_id":"`+sid+`","ended":true,"outcome":"failed","error":{"code":-32001,"message":"x"}}`), "code"},

		{"mob/stream_event attributed", "notification", "", attributed(`{"identity":"worker-1","generation":0}`, textDelta, `,"source_fence_token":null`), ""},
		{"mob/stream_event attributed empty identity", "notification", "", attributed(`{"identity":"","generation":0}`, textDelta, ""), "identity"},
		{"mob/stream_event attributed negative generation", "notification", "", attributed(`{"identity":"w","generation":-1}`, textDelta, ""), "generation"},
		{"mob/stream_event attributed without role", "notification", "",
			notification("mob/stream_event", `{"stream_id":"s1","sequence":3,"event":{"source":{"identity":"w","generation":0},"envelope":`+envelope(textDelta, nil)+`}}`), "role"},
		{"mob/stream_event attributed bad envelope", "notification", "",
			attributed(`{"identity":"w","generation":1}`, `{"type":"turn_started"}`, ""), "turn_number"},
		{"mob/stream_event bare envelope", "notification", "",
			notification("mob/stream_event", `{"stream_id":"s1","sequence":3,"event":`+envelope(textDelta, set("mob_id", "triage"))+`}`), ""},
		{"mob/stream_end", "notification", "", notification("mob/stream_end", `{"stream_id":"s1","ended":true,"outcome":"closed"}`), ""},
		{"mob/stream_end with session_id", "notification", "",
			notification("mob/stream_end", `{"stream_id":"s1","session_id":"`+sid+`","ended":true,"outcome":"closed"}`), "session_id"},
	})
}

func TestServerRequests(t *testing.T) {
	runOutbound(t, []outboundCase{
		{"tool/execute", "request", "tool/execute",
			`{"jsonrpc":"2.0","id":"cb-17","method":"tool/execute","params":{"name":"search","arguments":{"q":"go"}}}`, ""},
		{"tool/execute integer id", "request", "",
			`{"jsonrpc":"2.0","id":17,"method":"tool/execute","params":{"name":"search","arguments":{}}}`, ""},
		{"tool/execute null id", "request", "",
			`{"jsonrpc":"2.0","id":null,"method":"tool/execute","params":{"name":"search","arguments":{}}}`, "id"},
		{"tool/execute without arguments", "request", "",
			`{"jsonrpc":"2.0","id":"cb","method":"tool/execute","params":{"name":"search"}}`, "arguments"},
		{"tool/execute array arguments", "request", "",
			`{"jsonrpc":"2.0","id":"cb","method":"tool/execute","params":{"name":"search","arguments":["go"]}}`, "arguments"},
		{"tool/execute empty name", "request", "",
			`{"jsonrpc":"2.0","id":"cb","method":"tool/execute","params":{"name":"","arguments":{}}}`, "name"},
		{"unknown server request", "request", "",
			`{"jsonrpc":"2.0","id":"cb","method":"tool/cancel","params":{}}`, "unknown server-to-client request"},
		{"request without id", "request", "",
			`{"jsonrpc":"2.0","method":"tool/execute","params":{"name":"s","arguments":{}}}`, "id"},
	})
}

func TestValidateParams(t *testing.T) {
	c := load(t)
	for _, tc := range []struct {
		name, method, params, wantErr string
	}{
		{"create", "session/create", `{"prompt":"Hello","model":"claude-sonnet-4-6","enable_builtins":true}`, ""},
		{"create with blocks", "session/create",
			`{"prompt":[{"type":"text","text":"What is this?"},{"type":"image","media_type":"image/jpeg","source":"inline","data":"/9j/"}],"skill_refs":[{"kind":"structured","source_uuid":"` + sid + `","skill_name":"review"}]}`, ""},
		{"create deferred", "session/create", `{"prompt":"Hi","initial_turn":"deferred"}`, ""},
		{"create deferred with transient context", "session/create", `{"prompt":"Hi","initial_turn":"deferred","transient_turn_context":"now"}`, "transient_turn_context"},
		{"create without prompt", "session/create", `{"model":"m"}`, "prompt"},
		{"create with null model", "session/create", `{"prompt":"Hi","model":null}`, "model"},
		{"create with max_tokens 0", "session/create", `{"prompt":"Hi","max_tokens":0}`, "max_tokens"},
		{"create with unknown key", "session/create", `{"prompt":"Hi","skill_references":[]}`, "skill_references"},
		{"create keep_alive without comms_name", "session/create", `{"prompt":"Hi","keep_alive":true}`, "comms_name"},
		{"create bad provider", "session/create", `{"prompt":"Hi","provider":"mistral"}`, "provider"},
		{"turn", "turn/start", `{"session_id":"` + sid + `","prompt":"again"}`, ""},
		{"turn without session", "turn/start", `{"prompt":"again"}`, "session_id"},
		{"interrupt", "turn/interrupt", `{"session_id":"` + sid + `"}`, ""},
		{"interrupt without session", "turn/interrupt", `{}`, "session_id"},
		{"stream_open rejects extra keys", "session/stream_open", `{"session_id":"` + sid + `","x":1}`, "x"},
		{"tools/register", "tools/register", `{"tools":[{"name":"search","description":"Search","input_schema":{"type":"object"}}]}`, ""},
		{"initialize", "initialize", `{}`, ""},
		{"initialize without params", "initialize", ``, "missing"},
		{"initialize with array params", "initialize", `[]`, "object"},
		{"initialized", "initialized", ``, ""},
		{"config/patch", "config/patch", `{"patch":{"max_tokens":100},"expected_generation":3}`, ""},
		{"config/set bare", "config/set", `{"max_tokens":100}`, ""},
		{"config/set wrapped with extra", "config/set", `{"config":{},"generation":1}`, "generation"},
		{"no schema", "jobs/get", `{"job_id":"j"}`, "ErrNoSchema"},
		{"unknown method", "session/destroy", `{}`, "unknown method"},
		{"server notification", "session/event", `{}`, "server-to-client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := c.ValidateParams(tc.method, []byte(tc.params))
			switch {
			case tc.wantErr == "":
				if err != nil {
					t.Fatalf("want valid, got: %v", err)
				}
			case tc.wantErr == "ErrNoSchema":
				if !errors.Is(err, contract.ErrNoSchema) {
					t.Fatalf("want ErrNoSchema, got: %v", err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("want error containing %q, got: %v", tc.wantErr, err)
			}
		})
	}
}

func TestTranscript(t *testing.T) {
	c := load(t)
	rep, err := c.ValidateTranscript(filepath.Join("testdata", "transcript.jsonl"))
	if err != nil {
		t.Fatalf("testdata/transcript.jsonl: %v", err)
	}
	if rep.Lines != 35 || rep.Skipped != 2 || rep.Failed != 0 {
		t.Errorf("Lines, Skipped, Failed = %d, %d, %d; want 35, 2, 0", rep.Lines, rep.Skipped, rep.Failed)
	}
	for m, want := range map[string]int{
		"session/event": 13, "session/create": 2, "turn/start": 2, "tool/execute": 1,
		"mob/stream_event": 1, "turn/interrupt": 1, "bogus/method": 1, "mob/retire": 1,
	} {
		if got := rep.ByMethod[m]; got != want {
			t.Errorf("ByMethod[%s] = %d, want %d", m, got, want)
		}
	}
	if want := map[string]int{"mob/retire": 1}; !mapsEqual(rep.Unvalidated, want) {
		t.Errorf("Unvalidated = %v, want %v", rep.Unvalidated, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTranscriptFailures(t *testing.T) {
	c := load(t)
	lines := []string{
		/* 1 */ `{"kind":"response","method":"turn/start","msg":` + response("1", `{"session_id":"`+sid+`","text":"","turns":1,"tool_calls":0}`) + `}`,
		/* 2 */ `{"kind":"garbage","raw":"\u0000\u0001"}`,
		/* 3 */ `{"kind":"notification","msg":` + sessionEvent(`{"type":"text_delta","delta":"x"}`, func(m map[string]any) { m["event_id"] = strings.ToUpper(eid) }) + `}`,
		/* 4 */ `{"kind":"notification","injected":true,"msg":{"jsonrpc":"2.0","method":"nope"}}`,
		/* 5 */ `not json at all`,
		/* 6 */ `{"kind":"response","method":"mob/grants","msg":` + response("2", `{}`) + `}`,
		/* 7 */ `{"kind":"request","msg":{"jsonrpc":"2.0","id":"cb","method":"tool/execute","params":{"name":"s"}}}`,
		/* 8 */ `{"kind":"response","method":"session/archive","raw":"{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":true}"}`,
		/* 9 */ `{"kind":"response","method":"session/archive"}`,
		/* 10 */ `{"kind":"notification","method":"session/event","msg":` + notification("mob/stream_end", `{"stream_id":"s","ended":true,"outcome":"x"}`) + `}`,
	}
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := c.ValidateTranscript(path)
	if err == nil {
		t.Fatal("want errors")
	}
	t.Logf("errors:\n%v", err)
	msg := err.Error()
	for _, want := range []string{
		"bad.jsonl:1: response turn/start: result of turn/start: WireRunResult (rest-openapi.json): at '': missing property 'usage'",
		"bad.jsonl:3: notification session/event: session/event params.event: EventEnvelope (protocol.md §4.3): at '/event_id'",
		"bad.jsonl:5: (no kind) (no method): transcript line: not a JSON value",
		"bad.jsonl:7: request tool/execute: tool/execute params: at '': missing property 'arguments'",
		"bad.jsonl:9: response session/archive: transcript line has neither \"msg\" nor a string \"raw\"",
		"bad.jsonl:10: notification session/event: notification method is \"mob/stream_end\"",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q", want)
		}
	}
	for _, notWant := range []string{"bad.jsonl:2:", "bad.jsonl:4:", "bad.jsonl:6:", "bad.jsonl:8:"} {
		if strings.Contains(msg, notWant) {
			t.Errorf("errors mention %s", notWant)
		}
	}
	if rep.Lines != 10 || rep.Skipped != 2 || rep.Failed != 6 {
		t.Errorf("Lines, Skipped, Failed = %d, %d, %d; want 10, 2, 6", rep.Lines, rep.Skipped, rep.Failed)
	}
	if rep.Unvalidated["mob/grants"] != 1 || rep.ByMethod["session/archive"] != 2 {
		t.Errorf("report = %+v", rep)
	}

	if _, err := c.ValidateTranscript(filepath.Join(t.TempDir(), "missing.jsonl")); err == nil {
		t.Error("missing transcript: no error")
	}
}

// TestTranscriptVolume checks that a long streamed turn validates quickly
// enough for tests to check whole transcripts.
func TestTranscriptVolume(t *testing.T) {
	c := load(t)
	const n = 30000
	var b strings.Builder
	for i := range n {
		payload := `{"type":"text_delta","delta":"tok"}`
		b.WriteString(`{"kind":"notification","method":"session/event","msg":`)
		b.WriteString(sessionEvent(payload, func(m map[string]any) {
			m["seq"] = i
			m["event_id"] = eid[:24] + strings.Repeat("0", 12-len(itoa(i))) + itoa(i)
		}))
		b.WriteString("}\n")
	}
	path := filepath.Join(t.TempDir(), "volume.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := c.ValidateTranscript(path)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("%d lines in %v (%v a line)", rep.Lines, el, el/time.Duration(rep.Lines))
	if rep.ByMethod["session/event"] != n {
		t.Errorf("ByMethod = %v", rep.ByMethod)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestConcurrentUse validates from many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	c := load(t)
	good := []byte(sessionEvent(`{"type":"text_delta","delta":"x"}`, nil))
	bad := []byte(sessionEvent(`{"type":"run_started","session_id":"`+sid+`"}`, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 200 {
				if err := c.ValidateOutbound("notification", "", good); err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
				if err := c.ValidateOutbound("notification", "", bad); err == nil {
					t.Errorf("goroutine %d: bad event passed", g)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkSessionEvent(b *testing.B) {
	c := load(b)
	msg := []byte(sessionEvent(`{"type":"text_delta","delta":"Hel"}`, nil))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ValidateOutbound("notification", "", msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRunResult(b *testing.B) {
	c := load(b)
	msg := []byte(response("4", `{"session_id":"`+sid+`","text":"Hi!","turns":1,"tool_calls":0,"usage":`+usge+`}`))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ValidateOutbound("response", "turn/start", msg); err != nil {
			b.Fatal(err)
		}
	}
}
