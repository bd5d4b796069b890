package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/internal/contract"
)

// evGoldenTypes maps every contract event type to its Go type.
var evGoldenTypes = map[string]Event{
	EventTypeRunStarted:                             &RunStarted{},
	EventTypeRunCompleted:                           &RunCompleted{},
	EventTypeExtractionSucceeded:                    &ExtractionSucceeded{},
	EventTypeExtractionFailed:                       &ExtractionFailed{},
	EventTypeRunFailed:                              &RunFailed{},
	EventTypeHookStarted:                            &HookStarted{},
	EventTypeHookCompleted:                          &HookCompleted{},
	EventTypeHookFailed:                             &HookFailed{},
	EventTypeHookDenied:                             &HookDenied{},
	EventTypeTurnStarted:                            &TurnStarted{},
	EventTypeReasoningDelta:                         &ReasoningDelta{},
	EventTypeReasoningComplete:                      &ReasoningComplete{},
	EventTypeTextDelta:                              &TextDelta{},
	EventTypeTextComplete:                           &TextComplete{},
	EventTypeServerToolContent:                      &ServerToolContent{},
	EventTypeAssistantImageAppended:                 &AssistantImageAppended{},
	EventTypeToolCallRequested:                      &ToolCallRequested{},
	EventTypeToolResultReceived:                     &ToolResultReceived{},
	EventTypeTurnCompleted:                          &TurnCompleted{},
	EventTypeToolExecutionStarted:                   &ToolExecutionStarted{},
	EventTypeToolExecutionCompleted:                 &ToolExecutionCompleted{},
	EventTypeToolExecutionTimedOut:                  &ToolExecutionTimedOut{},
	EventTypeCompactionStarted:                      &CompactionStarted{},
	EventTypeCompactionCompleted:                    &CompactionCompleted{},
	EventTypeCompactionFailed:                       &CompactionFailed{},
	EventTypeBudgetWarning:                          &BudgetWarning{},
	EventTypeRetrying:                               &Retrying{},
	EventTypeSkillsResolved:                         &SkillsResolved{},
	EventTypeSkillResolutionFailed:                  &SkillResolutionFailed{},
	EventTypeInteractionComplete:                    &InteractionComplete{},
	EventTypeInteractionCallbackPending:             &InteractionCallbackPending{},
	EventTypeInteractionFailed:                      &InteractionFailed{},
	EventTypeStreamTruncated:                        &StreamTruncated{},
	EventTypeToolConfigChanged:                      &ToolConfigChanged{},
	EventTypeBackgroundJobCompleted:                 &BackgroundJobCompleted{},
	EventTypeTranscriptRewriteCommitted:             &TranscriptRewriteCommitted{},
	EventTypeTranscriptRewriteAuditReceiptCommitted: &TranscriptRewriteAuditReceiptCommitted{},
	EventTypeProviderCacheBreakpointsDiscarded:      &ProviderCacheBreakpointsDiscarded{},
	EventTypePeerContentIngested:                    &PeerContentIngested{},
	EventTypeTurnUsageAccountingUnmeasured:          &TurnUsageAccountingUnmeasured{},
	EventTypeTurnUsageAccountingIdentityDisputed:    &TurnUsageAccountingIdentityDisputed{},
}

// evGoldenLines returns the lines of testdata/events/valid.jsonl: one valid
// envelope per contract event type, written by hand from the schema.
func evGoldenLines(t testing.TB) [][]byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "events", "valid.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			lines = append(lines, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// evDropNulls removes null-valued object members, recursively.
func evDropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil {
				delete(v, k)
			} else {
				v[k] = evDropNulls(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = evDropNulls(x)
		}
	}
	return v
}

func evDecodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return evDropNulls(v)
}

func TestParseEnvelopeGolden(t *testing.T) {
	t.Parallel()
	lines := evGoldenLines(t)
	seen := map[string]bool{}
	for _, line := range lines {
		var raw struct {
			EventID string          `json:"event_id"`
			Seq     uint64          `json:"seq"`
			TS      uint64          `json:"timestamp_ms"`
			MobID   *string         `json:"mob_id"`
			Source  map[string]any  `json:"source"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(line, &raw); err != nil {
			t.Fatalf("golden line %s: %v", line, err)
		}
		var head struct{ Type string }
		_ = json.Unmarshal(raw.Payload, &head)
		typ := head.Type
		seen[typ] = true
		t.Run(typ, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				env, err := ParseEnvelope(line, EventOptions{Strict: strict})
				if err != nil {
					t.Fatalf("strict=%v: %v", strict, err)
				}
				if got, want := reflect.TypeOf(env.Event), reflect.TypeOf(evGoldenTypes[typ]); got != want {
					t.Fatalf("event type = %v, want %v (%+v)", got, want, env.Event)
				}
				if env.Event.EventType() != typ {
					t.Errorf("EventType() = %q, want %q", env.Event.EventType(), typ)
				}
				if !bytes.Equal(env.Payload, raw.Payload) {
					t.Errorf("Payload = %s, want %s", env.Payload, raw.Payload)
				}
				if env.EventID != raw.EventID || env.Seq != raw.Seq || env.TimestampMS != raw.TS {
					t.Errorf("metadata = %q %d %d, want %q %d %d", env.EventID, env.Seq, env.TimestampMS, raw.EventID, raw.Seq, raw.TS)
				}
				if wantMob := ""; raw.MobID != nil {
					wantMob = *raw.MobID
					if env.MobID != wantMob {
						t.Errorf("MobID = %q, want %q", env.MobID, wantMob)
					}
				}
				if env.Source.Type != raw.Source["type"] || (env.Source.ID() != "") != (len(raw.Source) > 1) {
					t.Errorf("Source = %+v, want %v", env.Source, raw.Source)
				}
				if env.ScopeID != "" || env.ScopePath != nil {
					t.Errorf("unscoped envelope has scope %q %v", env.ScopeID, env.ScopePath)
				}
			}

			// Round trip: the typed event, encoded again, must carry every
			// non-null field of the payload (so no json tag is wrong and no
			// field is lost).
			env, _ := ParseEnvelope(line, EventOptions{})
			enc, err := json.Marshal(env.Event)
			if err != nil {
				t.Fatal(err)
			}
			got := evDecodeAny(t, enc).(map[string]any)
			got["type"] = typ
			want := evDecodeAny(t, raw.Payload)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %s\nwant %s", evMustJSON(got), evMustJSON(want))
			}

			// ParseEvent on the bare payload agrees with ParseEnvelope.
			ev, err := ParseEvent(raw.Payload, EventOptions{Strict: true})
			if err != nil || !reflect.DeepEqual(ev, env.Event) {
				t.Errorf("ParseEvent = %+v, %v; want %+v", ev, err, env.Event)
			}
		})
	}
	for _, typ := range KnownEventTypes() {
		if !seen[typ] {
			t.Errorf("golden file has no %s event", typ)
		}
	}
	if len(seen) != len(KnownEventTypes()) {
		t.Errorf("golden file has %d types, inventory %d", len(seen), len(KnownEventTypes()))
	}
}

func evMustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGoldenFieldValues spot-checks decoded values of nested shapes.
func TestGoldenFieldValues(t *testing.T) {
	t.Parallel()
	byType := map[string]Event{}
	for _, line := range evGoldenLines(t) {
		env, err := ParseEnvelope(line, EventOptions{})
		if err != nil {
			t.Fatal(err)
		}
		byType[env.Event.EventType()] = env.Event
	}
	u64 := func(n uint64) *uint64 { return &n }

	if e := byType[EventTypeRunStarted].(*RunStarted); e.Input.Kind != "content" || e.Input.String() != "Summarise the report" || e.Input.Blocks != nil {
		t.Errorf("run_started input = %+v", e.Input)
	}
	if e := byType[EventTypeRunCompleted].(*RunCompleted); e.Usage.InputTokens != 1500 || e.Usage.OutputTokens != 320 ||
		!reflect.DeepEqual(e.Usage.CacheReadTokens, u64(400)) || e.Usage.Accounting != nil || !e.ExtractionRequired {
		t.Errorf("run_completed = %+v", e)
	}
	if e := byType[EventTypeRunFailed].(*RunFailed); e.ErrorReport.Class != "llm" || e.ErrorReport.Message != "rate limited" ||
		!strings.Contains(string(e.ErrorReport.Reason), "llm_rate_limited") || e.TerminalCauseKind != "llm_failure" {
		t.Errorf("run_failed = %+v", e)
	}
	if e := byType[EventTypeHookFailed].(*HookFailed); e.Reason != (HookFailureReason{ReasonCode: "timeout", TimeoutMS: 5000}) {
		t.Errorf("hook_failed = %+v", e)
	}
	if e := byType[EventTypeTurnCompleted].(*TurnCompleted); e.StopReason != "tool_use" || e.Usage == nil ||
		e.Usage.Accounting == nil || e.Usage.Accounting.PresentedTokens != 1200 || e.Usage.Total() != 1245 {
		t.Errorf("turn_completed = %+v", e)
	}
	if e := byType[EventTypeToolResultReceived].(*ToolResultReceived); len(e.Content) != 2 || e.Content.Text() != "3 results" ||
		string(e.Content[1].Structured) != `{"hits":3}` {
		t.Errorf("tool_result_received = %+v", e)
	}
	e := byType[EventTypeToolExecutionCompleted].(*ToolExecutionCompleted)
	if b, ok := e.Content[1].Block(); !ok || b != ImageBlock("image/png", "iVBORw0KGgo=") || e.DurationMS != 230 {
		t.Errorf("tool_execution_completed = %+v", e)
	}
	if e := byType[EventTypeRetrying].(*Retrying); e.Retry.Plan.SelectedDelayMS != 1500 || e.Retry.Plan.MaxRetries != 3 ||
		e.Retry.Failure.Kind != "rate_limited" || !reflect.DeepEqual(e.Retry.Failure.RetryAfterMS, u64(1500)) {
		t.Errorf("retrying = %+v", e)
	}
	if e := byType[EventTypeSkillResolutionFailed].(*SkillResolutionFailed); e.Reason.ReasonType != "not_found" ||
		e.Reason.Key == nil || e.Reason.Key.String() != "0b4e7e9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b/code-review" || len(e.Reason.Raw) == 0 {
		t.Errorf("skill_resolution_failed = %+v", e)
	}
	if e := byType[EventTypeToolConfigChanged].(*ToolConfigChanged); e.Payload.StatusInfo == nil || e.Payload.StatusInfo.Revision != 4 ||
		e.Payload.AppliedAtTurn == nil || *e.Payload.AppliedAtTurn != 3 {
		t.Errorf("tool_config_changed = %+v", e)
	}
	if e := byType[EventTypeBudgetWarning].(*BudgetWarning); e.Percent != 80 || e.Limit != 100000 {
		t.Errorf("budget_warning = %+v", e)
	}
	if e := byType[EventTypeInteractionComplete].(*InteractionComplete); e.StructuredOutput != nil && string(e.StructuredOutput) != "null" {
		t.Errorf("interaction_complete structured_output = %s", e.StructuredOutput)
	}
}

func TestParseEventMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload, orig string
	}{
		{"no type", `{"delta":"x"}`, ""},
		{"type null", `{"type":null}`, ""},
		{"type number", `{"type":7,"delta":"x"}`, ""},
		{"type empty", `{"type":""}`, ""},
		{"array", `[{"type":"text_delta"}]`, ""},
		{"string", `"text_delta"`, ""},
		{"invalid json", `{"type":"text_delta","delta":"x"`, ""},
		{"trailing data", `{"type":"text_delta","delta":"x"} {}`, ""},
		{"empty", ``, ""},
		{"text_delta no delta", `{"type":"text_delta"}`, "text_delta"},
		{"text_delta delta null", `{"type":"text_delta","delta":null}`, "text_delta"},
		{"text_delta delta number", `{"type":"text_delta","delta":3}`, "text_delta"},
		{"text_delta wrong case", `{"type":"text_delta","Delta":"x"}`, "text_delta"},
		{"text_complete no content", `{"type":"text_complete","delta":"x"}`, "text_complete"},
		{"reasoning_delta array", `{"type":"reasoning_delta","delta":["x"]}`, "reasoning_delta"},
		{"turn_started negative", `{"type":"turn_started","turn_number":-1}`, "turn_started"},
		{"turn_started string", `{"type":"turn_started","turn_number":"1"}`, "turn_started"},
		{"turn_started fraction", `{"type":"turn_started","turn_number":1.5}`, "turn_started"},
		{"turn_started overflow", `{"type":"turn_started","turn_number":4294967296}`, "turn_started"},
		{"tool_call args string", `{"type":"tool_call_requested","id":"a","name":"b","args":"{}"}`, "tool_call_requested"},
		{"tool_call args null", `{"type":"tool_call_requested","id":"a","name":"b","args":null}`, "tool_call_requested"},
		{"tool_call no id", `{"type":"tool_call_requested","name":"b","args":{}}`, "tool_call_requested"},
		{"run_completed no usage", `{"type":"run_completed","session_id":"s","result":"r"}`, "run_completed"},
		{"run_completed usage string", `{"type":"run_completed","session_id":"s","result":"r","usage":"lots"}`, "run_completed"},
		{"tool_result content object", `{"type":"tool_result_received","id":"a","name":"b","content":{},"is_error":false}`, "tool_result_received"},
		{"tool_result block without type", `{"type":"tool_result_received","id":"a","name":"b","content":[{"text":"x"}],"is_error":false}`, "tool_result_received"},
		{"tool_result is_error string", `{"type":"tool_result_received","id":"a","name":"b","content":[],"is_error":"no"}`, "tool_result_received"},
		{"run_started input without kind", `{"type":"run_started","session_id":"s","input":{"content":"hi"}}`, "run_started"},
		{"run_started content number", `{"type":"run_started","session_id":"s","input":{"kind":"content","content":5}}`, "run_started"},
		{"run_failed empty report", `{"type":"run_failed","session_id":"s","error_report":{}}`, "run_failed"},
		{"hook_failed reason without code", `{"type":"hook_failed","hook_id":"h","point":"p","reason":{"message":"x"}}`, "hook_failed"},
		{"compaction_failed reason without kind", `{"type":"compaction_failed","reason":{}}`, "compaction_failed"},
		{"stream_truncated reason string", `{"type":"stream_truncated","reason":"lagged"}`, "stream_truncated"},
		{"budget_warning percent string", `{"type":"budget_warning","budget_type":"time","used":1,"limit":2,"percent":"50%"}`, "budget_warning"},
		{"skills_resolved skills object", `{"type":"skills_resolved","skills":{},"injection_bytes":0}`, "skills_resolved"},
		{"retrying neither form", `{"type":"retrying","error":"x"}`, "retrying"},
		{"interaction_failed no reason", `{"type":"interaction_failed","interaction_id":"i"}`, "interaction_failed"},
		{"tool_config_changed no operation", `{"type":"tool_config_changed","payload":{"target":"x"}}`, "tool_config_changed"},
		{"server_tool_content no content", `{"type":"server_tool_content","kind":{"kind":"web_search"}}`, "server_tool_content"},
		{"peer_content_ingested kind null", `{"type":"peer_content_ingested","kind":null}`, "peer_content_ingested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				ev, err := ParseEvent([]byte(tt.payload), EventOptions{Strict: strict})
				if err != nil {
					t.Fatalf("strict=%v: error %v, want a malformedEvent event", strict, err)
				}
				u, ok := ev.(*UnknownEvent)
				if !ok {
					t.Fatalf("got %T %+v, want *UnknownEvent", ev, ev)
				}
				if u.Type != MalformedEventType || u.OriginalType != tt.orig || u.Err == nil {
					t.Errorf("got %+v, want malformed_event from %q with Err", u, tt.orig)
				}
				if u.EventType() != MalformedEventType {
					t.Errorf("EventType() = %q", u.EventType())
				}
			}
		})
	}
}

func TestParseEventLenientShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload string
		want          Event
	}{
		{"extra fields ignored", `{"type":"text_delta","delta":"a","assistant_message_id":"m1","x":[1,{}]}`, &TextDelta{Delta: "a"}},
		{"escaped delta", `{"type":"text_delta","delta":"line\n\"q\" \u00e9 \ud83d\ude00 \/"}`, &TextDelta{Delta: "line\n\"q\" é 😀 /"}},
		{"escaped type and key", `{"\u0074ype":"text_\u0064elta","d\u0065lta":"x"}`, &TextDelta{Delta: "x"}},
		{"duplicate key last wins", `{"type":"text_delta","delta":"a","delta":"b"}`, &TextDelta{Delta: "b"}},
		{"whitespace", " \n{ \"type\" : \"text_complete\" , \"content\" : \"\" }\t", &TextComplete{Content: ""}},
		{"nullable any field", `{"type":"extraction_succeeded","session_id":"s","structured_output":null}`,
			&ExtractionSucceeded{SessionID: "s", StructuredOutput: json.RawMessage("null")}},
		{"turn_completed without usage", `{"type":"turn_completed","stop_reason":"end_turn","usage":null}`,
			&TurnCompleted{StopReason: "end_turn"}},
		{"run_started pending tool results", `{"type":"run_started","session_id":"s","input":{"kind":"pending_tool_results"}}`,
			&RunStarted{SessionID: "s", Input: RunInput{Kind: "pending_tool_results"}}},
		{"run_started blocks", `{"type":"run_started","session_id":"s","input":{"kind":"content","content":[{"type":"text","text":"hi"},{"type":"skill_context","skill_key":{"source_uuid":"u","skill_name":"n"},"text":"ctx"}]}}`,
			&RunStarted{SessionID: "s", Input: RunInput{Kind: "content", Blocks: ContentBlocks{
				{Type: "text", Text: "hi"},
				{Type: "skill_context", Text: "ctx", SkillKey: &SkillKey{SourceUUID: "u", SkillName: "n"}},
			}}}},
		{"stream_truncated", `{"type":"stream_truncated","reason":{"kind":"stream_lagged","dropped":5}}`,
			&StreamTruncated{Reason: StreamTruncationReason{Kind: "stream_lagged", Dropped: 5}}},
		{"tool_config_changed legacy status", `{"type":"tool_config_changed","payload":{"operation":"reload","target":"all","status":"ok","persisted":false}}`,
			&ToolConfigChanged{Payload: ToolConfigChange{Operation: "reload", Target: "all", Status: "ok"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.payload), EventOptions{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Errorf("got %#v, want %#v", ev, tt.want)
			}
		})
	}
}

func TestParseEventLegacyNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload string
		want          Event
	}{
		{"run_started prompt", `{"type":"run_started","session_id":"s","prompt":"hello"}`,
			&RunStarted{SessionID: "s", Input: RunInput{Kind: "content", Text: "hello"}}},
		{"run_failed error", `{"type":"run_failed","session_id":"s","error":"boom","error_class":"llm"}`,
			&RunFailed{SessionID: "s", ErrorReport: AgentErrorReport{Class: "llm", Message: "boom"}}},
		{"run_failed schema name wins", `{"type":"run_failed","session_id":"s","error":"old","error_report":{"class":"tool","message":"new"}}`,
			&RunFailed{SessionID: "s", ErrorReport: AgentErrorReport{Class: "tool", Message: "new"}}},
		{"hook_failed error", `{"type":"hook_failed","hook_id":"h","point":"turn_boundary","error":"exit 1"}`,
			&HookFailed{HookID: "h", Point: "turn_boundary", Reason: HookFailureReason{Message: "exit 1"}}},
		{"retrying flat", `{"type":"retrying","attempt":2,"max_attempts":5,"error":"overloaded","delay_ms":800}`,
			&Retrying{Retry: RetrySchedule{
				Failure: RetryFailure{Message: "overloaded"},
				Plan:    RetryPlan{Attempt: 2, MaxRetries: 5, ComputedDelayMS: 800, SelectedDelayMS: 800},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.payload), EventOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev, tt.want) {
				t.Errorf("got %#v, want %#v", ev, tt.want)
			}
		})
	}
}

const evBase = `{"event_id":"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab","source":{"type":"session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},"seq":7,"timestamp_ms":1732540000000,"payload":{"type":"text_delta","delta":"Hel"}}`

// evWith returns evBase with member key replaced by the raw JSON value
// (or removed when value is "").
func evWith(t testing.TB, key, value string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(evBase), &m); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEnvelopeUnknownType(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"hook_rewrite_applied", "malformed_event", "TEXT_DELTA", "text_delta "} {
		line := evWith(t, "payload", `{"type":"`+typ+`","patch":{}}`)

		env, err := ParseEnvelope(line, EventOptions{})
		if err != nil {
			t.Fatalf("%s lenient: %v", typ, err)
		}
		u, ok := env.Event.(*UnknownEvent)
		if !ok || u.Type != typ || u.OriginalType != "" || u.Err != nil || string(u.Raw) != `{"type":"`+typ+`","patch":{}}` {
			t.Errorf("%s lenient: got %#v", typ, env.Event)
		}

		env, err = ParseEnvelope(line, EventOptions{Strict: true})
		if !errors.Is(err, ErrUnknownEventType) || errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s strict: err = %v, want ErrUnknownEventType", typ, err)
		}
		if u, ok := env.Event.(*UnknownEvent); !ok || u.Type != typ || env.EventID == "" {
			t.Errorf("%s strict: envelope %+v", typ, env)
		}

		ev, err := ParseEvent([]byte(`{"type":"`+typ+`"}`), EventOptions{Strict: true})
		if !errors.Is(err, ErrUnknownEventType) || ev == nil || ev.EventType() != typ {
			t.Errorf("%s ParseEvent strict: %v, %v", typ, ev, err)
		}
		if ev, err := ParseEvent([]byte(`{"type":"`+typ+`"}`), EventOptions{}); err != nil || ev.EventType() != typ {
			t.Errorf("%s ParseEvent lenient: %v, %v", typ, ev, err)
		}
	}
	// Types the Python SDK's inventory lacks are known here, also in strict mode.
	for _, p := range []string{
		`{"type":"server_tool_content","kind":{"kind":"web_search"},"content":null}`,
		`{"type":"transcript_rewrite_audit_receipt_committed","session_id":"s","receipt":{}}`,
	} {
		if ev, err := ParseEvent([]byte(p), EventOptions{Strict: true}); err != nil {
			t.Errorf("%s: %v", p, err)
		} else if _, unknown := ev.(*UnknownEvent); unknown {
			t.Errorf("%s: got %+v", p, ev)
		}
	}
}

func TestParseEnvelopeMalformedPayloadIsNotAnError(t *testing.T) {
	t.Parallel()
	env, err := ParseEnvelope(evWith(t, "payload", `{"type":"text_delta","delta":42}`), EventOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := env.Event.(*UnknownEvent); !ok || u.Type != MalformedEventType || u.OriginalType != EventTypeTextDelta {
		t.Errorf("got %#v", env.Event)
	}
}

func TestParseEnvelopeValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want func(Envelope) bool
	}{
		{"base", []byte(evBase), func(e Envelope) bool {
			return e.EventID == "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab" && e.Seq == 7 && e.TimestampMS == 1732540000000 &&
				e.Source == Source{Type: "session", SessionID: "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"} &&
				reflect.DeepEqual(e.Event, &TextDelta{Delta: "Hel"}) && string(e.Payload) == `{"type":"text_delta","delta":"Hel"}`
		}},
		{"mob_id null", evWith(t, "mob_id", "null"), func(e Envelope) bool { return e.MobID == "" }},
		{"mob_id", evWith(t, "mob_id", `"mob-1"`), func(e Envelope) bool { return e.MobID == "mob-1" }},
		{"seq zero", evWith(t, "seq", "0"), func(e Envelope) bool { return e.Seq == 0 }},
		{"seq max", evWith(t, "seq", "18446744073709551615"), func(e Envelope) bool { return e.Seq == 1<<64-1 }},
		{"unknown envelope keys", evWith(t, "trace", `{"x":[1,2,{"y":null}]}`), func(e Envelope) bool { return e.Seq == 7 }},
		{"runtime source", evWith(t, "source", `{"type":"runtime","runtime_id":"rt-1"}`), func(e Envelope) bool {
			return e.Source == Source{Type: "runtime", RuntimeID: "rt-1"} && e.Source.ID() == "rt-1"
		}},
		{"interaction source", evWith(t, "source", `{"type":"interaction","interaction_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}`), func(e Envelope) bool {
			return e.Source.InteractionID == "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f" && e.Source.ID() == e.Source.InteractionID
		}},
		{"callback source", evWith(t, "source", `{"type":"callback","session_id":"ignored"}`), func(e Envelope) bool {
			return e.Source == Source{Type: "callback"} && e.Source.ID() == ""
		}},
		{"external source", evWith(t, "source", `{"type":"external","source_id":"monitoring"}`), func(e Envelope) bool {
			return e.Source == Source{Type: "external", SourceID: "monitoring"}
		}},
		{"escaped uuid", evWith(t, "event_id", `"\u0036f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"`), func(e Envelope) bool {
			return e.EventID == "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"
		}},
		{"surrounding space", []byte("\r\n  " + evBase + " \n"), func(e Envelope) bool { return e.Seq == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := ParseEnvelope(tt.data, EventOptions{Strict: true})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(env) {
				t.Errorf("unexpected envelope %+v", env)
			}
		})
	}
}

func TestParseEnvelopeInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"blank", []byte("  \n")},
		{"not json", []byte("hello")},
		{"truncated", []byte(evBase[:len(evBase)-1])},
		{"trailing garbage", []byte(evBase + "x")},
		{"two objects", []byte(evBase + evBase)},
		{"array", []byte("[" + evBase + "]")},
		{"null", []byte("null")},
		{"bare payload", []byte(`{"type":"text_delta","delta":"x"}`)},
		{"invalid escape", []byte(strings.Replace(evBase, `"Hel"`, `"H\qel"`, 1))},
		{"control char in string", []byte(strings.Replace(evBase, `"Hel"`, "\"H\x01el\"", 1))},

		{"event_id missing", evWith(t, "event_id", "")},
		{"event_id null", evWith(t, "event_id", "null")},
		{"event_id number", evWith(t, "event_id", "42")},
		{"event_id empty", evWith(t, "event_id", `""`)},
		{"event_id not uuid", evWith(t, "event_id", `"evt-1"`)},
		{"event_id uppercase", evWith(t, "event_id", `"6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB"`)},
		{"event_id mixed case", evWith(t, "event_id", `"6f1c2d3e-4a5b-4c6d-8e7f-0123456789aB"`)},
		{"event_id braces", evWith(t, "event_id", `"{6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab}"`)},
		{"event_id urn", evWith(t, "event_id", `"urn:uuid:6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab"`)},
		{"event_id no hyphens", evWith(t, "event_id", `"6f1c2d3e4a5b4c6d8e7f0123456789ab"`)},
		{"event_id misplaced hyphen", evWith(t, "event_id", `"6f1c2d3e4-a5b-4c6d-8e7f-0123456789ab"`)},
		{"event_id non-hex", evWith(t, "event_id", `"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ag"`)},

		{"seq missing", evWith(t, "seq", "")},
		{"seq negative", evWith(t, "seq", "-1")},
		{"seq negative zero", evWith(t, "seq", "-0")},
		{"seq fraction", evWith(t, "seq", "7.0")},
		{"seq exponent", evWith(t, "seq", "1e3")},
		{"seq string", evWith(t, "seq", `"7"`)},
		{"seq bool", evWith(t, "seq", "true")},
		{"seq null", evWith(t, "seq", "null")},
		{"seq overflow", evWith(t, "seq", "18446744073709551616")},
		{"seq huge", evWith(t, "seq", "123456789012345678901234567890")},
		{"timestamp missing", evWith(t, "timestamp_ms", "")},
		{"timestamp negative", evWith(t, "timestamp_ms", "-1732540000000")},
		{"timestamp float", evWith(t, "timestamp_ms", "1732540000000.5")},

		{"payload missing", evWith(t, "payload", "")},
		{"payload null", evWith(t, "payload", "null")},
		{"payload array", evWith(t, "payload", `[{"type":"text_delta"}]`)},
		{"payload string", evWith(t, "payload", `"text_delta"`)},
		{"payload type missing", evWith(t, "payload", `{"delta":"x"}`)},
		{"payload type null", evWith(t, "payload", `{"type":null,"delta":"x"}`)},
		{"payload type number", evWith(t, "payload", `{"type":1}`)},
		{"payload type empty", evWith(t, "payload", `{"type":""}`)},

		{"source missing", evWith(t, "source", "")},
		{"source null", evWith(t, "source", "null")},
		{"source string", evWith(t, "source", `"session"`)},
		{"source type missing", evWith(t, "source", `{"session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}`)},
		{"source type empty", evWith(t, "source", `{"type":""}`)},
		{"source type number", evWith(t, "source", `{"type":1}`)},
		{"source type unknown", evWith(t, "source", `{"type":"mob","mob_id":"m"}`)},
		{"source type wrong case", evWith(t, "source", `{"type":"Session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}`)},
		{"session without id", evWith(t, "source", `{"type":"session"}`)},
		{"session id not uuid", evWith(t, "source", `{"type":"session","session_id":"sess-1"}`)},
		{"session id uppercase", evWith(t, "source", `{"type":"session","session_id":"019A3C1E-7B2D-7C4E-9F10-2A3B4C5D6E7F"}`)},
		{"session id number", evWith(t, "source", `{"type":"session","session_id":5}`)},
		{"interaction id not uuid", evWith(t, "source", `{"type":"interaction","interaction_id":"i-1"}`)},
		{"interaction without id", evWith(t, "source", `{"type":"interaction","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}`)},
		{"runtime id empty", evWith(t, "source", `{"type":"runtime","runtime_id":""}`)},
		{"runtime id null", evWith(t, "source", `{"type":"runtime","runtime_id":null}`)},
		{"external without id", evWith(t, "source", `{"type":"external"}`)},

		{"mob_id empty", evWith(t, "mob_id", `""`)},
		{"mob_id number", evWith(t, "mob_id", "5")},
		{"mob_id object", evWith(t, "mob_id", `{"id":"m"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				_, err := ParseEnvelope(tt.data, EventOptions{Strict: strict})
				if !errors.Is(err, ErrInvalidResponse) {
					t.Errorf("strict=%v: err = %v, want ErrInvalidResponse", strict, err)
				}
			}
		})
	}
}

func TestParseEnvelopeScoped(t *testing.T) {
	t.Parallel()
	frames := `[{"scope":"primary","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},{"scope":"mob_member","flow_run_id":"run-1","agent_identity":"worker-1"}]`
	data := []byte(`{"scope_id":"mob:research/worker-1","scope_path":` + frames + `,"event":` + evBase + `}`)
	env, err := ParseEnvelope(data, EventOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if env.ScopeID != "mob:research/worker-1" || len(env.ScopePath) != 2 {
		t.Fatalf("scope = %q %d", env.ScopeID, len(env.ScopePath))
	}
	var f struct {
		Scope         string `json:"scope"`
		AgentIdentity string `json:"agent_identity"`
	}
	if err := json.Unmarshal(env.ScopePath[1], &f); err != nil || f.Scope != "mob_member" || f.AgentIdentity != "worker-1" {
		t.Errorf("frame 1 = %s (%v)", env.ScopePath[1], err)
	}
	want, _ := ParseEnvelope([]byte(evBase), EventOptions{})
	env.ScopeID, env.ScopePath = "", nil
	if !reflect.DeepEqual(env, want) {
		t.Errorf("inner envelope = %+v, want %+v", env, want)
	}

	empty := []byte(`{"event":` + evBase + `,"scope_path":[],"scope_id":""}`)
	if env, err := ParseEnvelope(empty, EventOptions{}); err != nil || env.ScopePath == nil || len(env.ScopePath) != 0 {
		t.Errorf("empty scope path: %+v, %v", env, err)
	}

	invalid := map[string]string{
		"scope_id missing":     `{"scope_path":[],"event":` + evBase + `}`,
		"scope_id number":      `{"scope_id":1,"scope_path":[],"event":` + evBase + `}`,
		"scope_path missing":   `{"scope_id":"s","event":` + evBase + `}`,
		"scope_path object":    `{"scope_id":"s","scope_path":{},"event":` + evBase + `}`,
		"scope frame string":   `{"scope_id":"s","scope_path":["primary"],"event":` + evBase + `}`,
		"event string":         `{"scope_id":"s","scope_path":[],"event":"x"}`,
		"event null":           `{"scope_id":"s","scope_path":[],"event":null}`,
		"inner bad uuid":       `{"scope_id":"s","scope_path":[],"event":` + strings.Replace(evBase, "6f1c", "6F1C", 1) + `}`,
		"nested scoped":        `{"scope_id":"s","scope_path":[],"event":{"scope_id":"t","scope_path":[],"event":` + evBase + `}}`,
		"invalid json in path": `{"scope_id":"s","scope_path":[{],"event":` + evBase + `}`,
	}
	for name, data := range invalid {
		if _, err := ParseEnvelope([]byte(data), EventOptions{}); !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("%s: err = %v, want ErrInvalidResponse", name, err)
		}
	}

	// The contract's ScopedAgentEvent wraps a bare AgentEvent payload: the
	// event is typed, and there is no envelope metadata.
	bare := []byte(`{"scope_id":"s","scope_path":` + frames + `,"event":{"type":"text_delta","delta":"x"}}`)
	env, err = ParseEnvelope(bare, EventOptions{Strict: true})
	if d, ok := env.Event.(*TextDelta); err != nil || !ok || d.Delta != "x" || env.ScopeID != "s" || len(env.ScopePath) != 2 ||
		string(env.Payload) != `{"type":"text_delta","delta":"x"}` || env.EventID != "" || env.Source.Type != "" {
		t.Errorf("bare payload in scope: %+v, %v", env, err)
	}
	// A bare payload is typed leniently like any other.
	env, err = ParseEnvelope([]byte(`{"scope_id":"s","scope_path":[],"event":{"type":"text_delta"}}`), EventOptions{})
	if u, ok := env.Event.(*UnknownEvent); err != nil || !ok || u.Type != MalformedEventType || u.OriginalType != EventTypeTextDelta {
		t.Errorf("malformed bare payload in scope: %+v, %v", env, err)
	}
	env, err = ParseEnvelope([]byte(`{"scope_id":"s","scope_path":[],"event":{"type":"brand_new"}}`), EventOptions{Strict: true})
	if !errors.Is(err, ErrUnknownEventType) || env.ScopeID != "s" {
		t.Errorf("strict unknown bare payload in scope: %+v, %v", env, err)
	}

	// Strict typing applies inside the wrapper; the scope is still reported.
	unknown := []byte(`{"scope_id":"s","scope_path":[],"event":` + strings.Replace(evBase, "text_delta", "brand_new", 1) + `}`)
	env, err = ParseEnvelope(unknown, EventOptions{Strict: true})
	if !errors.Is(err, ErrUnknownEventType) || env.ScopeID != "s" {
		t.Errorf("strict unknown in scope: %+v, %v", env, err)
	}
}

func TestKnownEventTypes(t *testing.T) {
	t.Parallel()
	got := KnownEventTypes()
	if len(got) != 41 {
		t.Fatalf("len = %d, want 41", len(got))
	}
	sorted := slices.Sorted(slices.Values(got))
	if len(slices.Compact(sorted)) != 41 {
		t.Error("duplicate types in inventory")
	}
	for _, typ := range got {
		spec, ok := eventSpecs[typ]
		if !ok || spec.name != typ {
			t.Errorf("%s: no spec", typ)
		}
		proto, ok := evGoldenTypes[typ]
		if !ok {
			t.Errorf("%s: no Go type", typ)
			continue
		}
		if proto.EventType() != typ {
			t.Errorf("%T.EventType() = %q, want %q", proto, proto.EventType(), typ)
		}
	}
	if len(eventSpecs) != 41 || len(evGoldenTypes) != 41 {
		t.Errorf("specs %d, Go types %d", len(eventSpecs), len(evGoldenTypes))
	}
	got[0] = "changed"
	if KnownEventTypes()[0] != EventTypeRunStarted {
		t.Error("KnownEventTypes returned the package's own slice")
	}
}

// TestFastPathMatchesGenericDecoding checks that the hand-written decoding
// of the streaming events agrees with the encoding/json path.
func TestFastPathMatchesGenericDecoding(t *testing.T) {
	t.Parallel()
	values := []string{`""`, `"plain"`, `"tab\there"`, `"\u00e9t\u00e9 \ud83d\ude00"`, `"lone \ud800 surrogate"`,
		`"lone \udc00 low"`, `"\ud800\u0041"`, "\"raw \xff\xfe bytes\"", `"\"\\\/\b\f\n\r\t"`, `"日本語"`}
	for _, typ := range []string{EventTypeTextDelta, EventTypeReasoningDelta, EventTypeTextComplete, EventTypeReasoningComplete} {
		field := "delta"
		if strings.HasSuffix(typ, "complete") {
			field = "content"
		}
		for _, v := range values {
			payload := []byte(`{"type":"` + typ + `","` + field + `":` + v + `}`)
			fast, err := ParseEvent(payload, EventOptions{})
			if err != nil {
				t.Fatal(err)
			}
			generic, err := eventSpecs[typ].decode(payload)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast, generic) {
				t.Errorf("%s: fast %#v, generic %#v", payload, fast, generic)
			}
		}
	}
}

// TestEventSpecsMatchContract compares the inventory and required fields with
// the contract's events.json (found as internal/contract finds it; a missing
// contract fails the test rather than skipping it).
func TestEventSpecsMatchContract(t *testing.T) {
	t.Parallel()
	dir, err := contract.Dir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "events.json"))
	if err != nil {
		t.Fatal(err)
	}
	var contract struct {
		AgentEvent struct {
			OneOf []struct {
				Properties struct {
					Type struct {
						Const string `json:"const"`
					} `json:"type"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"oneOf"`
		} `json:"AgentEvent"`
		WireEvent struct {
			KnownEventTypes []string `json:"known_event_types"`
		} `json:"WireEvent"`
	}
	if err := json.Unmarshal(data, &contract); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, v := range contract.AgentEvent.OneOf {
		typ := v.Properties.Type.Const
		types = append(types, typ)
		spec, ok := eventSpecs[typ]
		if !ok {
			t.Errorf("%s: not modelled", typ)
			continue
		}
		want := slices.DeleteFunc(slices.Clone(v.Required), func(s string) bool { return s == "type" })
		if !slices.Equal(spec.required, want) {
			t.Errorf("%s: required %v, contract %v", typ, spec.required, want)
		}
	}
	if !slices.Equal(types, knownEventTypes) {
		t.Errorf("inventory %v, contract %v", knownEventTypes, types)
	}
	if len(contract.WireEvent.KnownEventTypes) != 39 {
		t.Errorf("WireEvent.known_event_types has %d types", len(contract.WireEvent.KnownEventTypes))
	}
	for _, typ := range contract.WireEvent.KnownEventTypes {
		if !slices.Contains(knownEventTypes, typ) {
			t.Errorf("WireEvent type %s missing from inventory", typ)
		}
	}
}

func TestDecodeStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`""`, `"a"`, `"\u0000"`, `"\uD83D\uDE00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\ud83d\ude00"`,
		`"\udfff\ud800"`, "\"\xed\xa0\x80\"", "\"\xc3\"", "\"a\xc3\xa9b\"", `"\\u0041"`, `"\u12ab\uABCD"`} {
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if got := evDecodeRawString(t, []byte(s)); got != want {
			t.Errorf("decoding %s = %q, want %q", s, got, want)
		}
	}
}

func TestIsCanonicalUUID(t *testing.T) {
	t.Parallel()
	good := []string{"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}
	bad := []string{"", "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7", "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f0", "019a3c1e_7b2d-7c4e-9f10-2a3b4c5d6e7f",
		"019A3C1E-7B2D-7C4E-9F10-2A3B4C5D6E7F", "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7g", "019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e-f", "g19a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"}
	for _, s := range good {
		if !isCanonicalUUID(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range bad {
		if isCanonicalUUID(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestIsCanonicalUUIDEveryByte puts every byte value at every position of
// a canonical UUID and checks the answer against the definition.
func TestIsCanonicalUUIDEveryByte(t *testing.T) {
	t.Parallel()
	want := func(s []byte) bool {
		for i, c := range s {
			hyphen := i == 8 || i == 13 || i == 18 || i == 23
			if hyphen != (c == '-') || (!hyphen && !('0' <= c && c <= '9' || 'a' <= c && c <= 'f')) {
				return false
			}
		}
		return len(s) == 36
	}
	for _, base := range []string{"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "9a9a9a9a-afaf-0909-f0f0-a9a9a9a9a9a9"} {
		for i := range 36 {
			for c := range 256 {
				s := []byte(base)
				s[i] = byte(c)
				if got := isCanonicalUUID(s); got != want(s) || got != isCanonicalUUID(string(s)) {
					t.Fatalf("isCanonicalUUID(%q) = %v", s, got)
				}
			}
		}
	}
}

func TestContentBlockRoundTrip(t *testing.T) {
	t.Parallel()
	in := `[{"type":"text","text":"hi"},{"type":"image","media_type":"image/png","source":"blob","blob_id":"b1"},` +
		`{"type":"video","media_type":"video/mp4","duration_ms":900,"source":"uri","uri":"s3://v"},` +
		`{"type":"structured","data":[1,"two"]},{"type":"skill_context","skill_key":{"source_uuid":"u","skill_name":"n"},"text":"t"}]`
	var bs ContentBlocks
	if err := json.Unmarshal([]byte(in), &bs); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(bs)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	_ = json.Unmarshal([]byte(in), &a)
	_ = json.Unmarshal(out, &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("round trip:\n got %s\nwant %s", out, in)
	}
	if _, ok := bs[3].Block(); ok {
		t.Error("structured block converted to Block")
	}
	if blk, ok := bs[2].Block(); !ok || blk != VideoURIBlock("video/mp4", 900, "s3://v") {
		t.Errorf("video Block() = %+v", blk)
	}
}

// BenchmarkParseEnvelopeTextDelta measures the hot path: one text_delta
// envelope as the runtime writes it.
func BenchmarkParseEnvelopeTextDelta(b *testing.B) {
	data := []byte(`{"event_id":"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab","source":{"type":"session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},"seq":1234,"timestamp_ms":1732540000000,"payload":{"type":"text_delta","delta":"Hello, wor"}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := ParseEnvelope(data, EventOptions{})
		if err != nil || env.Event == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEnvelopeTextDeltaEscaped is the hot path with escapes and
// non-ASCII text in the delta.
func BenchmarkParseEnvelopeTextDeltaEscaped(b *testing.B) {
	data := []byte(`{"event_id":"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab","source":{"type":"session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},"seq":1234,"timestamp_ms":1732540000000,"payload":{"type":"text_delta","delta":"\"Grüße\",\n\tsaid he"}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(data, EventOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEnvelopeToolCall measures an event typed through encoding/json.
func BenchmarkParseEnvelopeToolCall(b *testing.B) {
	data := []byte(`{"event_id":"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab","source":{"type":"session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},"seq":1234,"timestamp_ms":1732540000000,"payload":{"type":"tool_call_requested","id":"toolu_01","name":"search","args":{"q":"go generics","limit":5}}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(data, EventOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalEnvelopeStdlib is a reference point: decoding the same
// text_delta envelope with encoding/json into plain structs, no validation.
func BenchmarkUnmarshalEnvelopeStdlib(b *testing.B) {
	data := []byte(`{"event_id":"6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab","source":{"type":"session","session_id":"019a3c1e-7b2d-7c4e-9f10-2a3b4c5d6e7f"},"seq":1234,"timestamp_ms":1732540000000,"payload":{"type":"text_delta","delta":"Hello, wor"}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var env struct {
			EventID string            `json:"event_id"`
			Source  map[string]string `json:"source"`
			Seq     uint64            `json:"seq"`
			TS      uint64            `json:"timestamp_ms"`
			Payload json.RawMessage   `json:"payload"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			b.Fatal(err)
		}
		var td TextDelta
		if err := json.Unmarshal(env.Payload, &td); err != nil {
			b.Fatal(err)
		}
	}
}
