package actors

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/rpc"
)

// rows builds history rows from a compact script: "u:TEXT" user message,
// "c:TEXT" user message from comms, "a:TEXT" final assistant reply, "t"
// assistant tool call, "r" tool results.
func rows(t *testing.T, script ...string) []rpc.HistoryMessage {
	t.Helper()
	var out []rpc.HistoryMessage
	for _, s := range script {
		kind, text, _ := strings.Cut(s, ":")
		var row any
		switch kind {
		case "u":
			row = map[string]any{"role": "user", "content": text, "created_at": "t"}
		case "c":
			row = map[string]any{"role": "user", "content": text, "created_at": "t", "interaction_id": "0190c5d2-0000-7000-8000-000000000000"}
		case "a":
			row = map[string]any{"role": "block_assistant", "stop_reason": "end_turn", "created_at": "t",
				"blocks": []any{map[string]any{"block_type": "text", "data": map[string]any{"text": text}}}}
		case "t":
			row = map[string]any{"role": "block_assistant", "stop_reason": "tool_use", "created_at": "t",
				"blocks": []any{map[string]any{"block_type": "tool_use", "data": map[string]any{"id": "x", "name": "n", "args": map[string]any{}}}}}
		case "r":
			row = map[string]any{"role": "tool_results", "created_at": "t", "results": []any{}}
		default:
			t.Fatalf("bad script %q", s)
		}
		b, _ := json.Marshal(row)
		var m rpc.HistoryMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestAnalyze(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rows      []string
		skip      int
		want      verdictKind
		committed bool
		text      string
		turns     uint32
		tools     uint32
	}{
		{name: "empty", want: verdictNotCommitted},
		{name: "completed turns only", rows: []string{"u:a", "a:A", "u:b", "a:B"}, skip: 2, want: verdictNotCommitted},
		{name: "committed with reply", rows: []string{"u:q", "a:answer"}, want: verdictCompleted, committed: true, text: "answer", turns: 1},
		{name: "after completed turns", rows: []string{"u:q", "a:x", "u:q", "a:answer"}, skip: 1, want: verdictCompleted, committed: true, text: "answer", turns: 1},
		{name: "tool rounds", rows: []string{"u:q", "t", "r", "t", "r", "a:done"}, want: verdictCompleted, committed: true, text: "done", turns: 3, tools: 2},
		{name: "no reply", rows: []string{"u:q"}, want: verdictUnknown, committed: true},
		{name: "tool call without final reply", rows: []string{"u:q", "t", "r"}, want: verdictUnknown, committed: true},
		{name: "other prompt", rows: []string{"u:other", "a:x"}, want: verdictUnknown},
		{name: "two unaccounted", rows: []string{"u:q", "a:x", "u:q", "a:y"}, want: verdictUnknown, committed: true},
		{name: "history lost turns", rows: []string{"u:a"}, skip: 2, want: verdictUnknown},
		{name: "comms ignored", rows: []string{"c:hello", "a:hi"}, want: verdictNotCommitted},
		{name: "comms then turn", rows: []string{"c:hello", "a:hi", "u:q", "a:answer"}, want: verdictCompleted, committed: true, text: "answer", turns: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := analyze(rows(t, tc.rows...), 10, tc.skip, rpc.Text("q"), uint64(10+len(tc.rows)))
			if v.kind != tc.want || v.committed != tc.committed || v.count != uint64(10+len(tc.rows)) || v.detail == "" {
				t.Fatalf("verdict = %+v, want %v committed=%v", v, tc.want, tc.committed)
			}
			if tc.want == verdictCompleted {
				if v.result.Text != tc.text || v.result.Turns != tc.turns || v.result.ToolCalls != tc.tools {
					t.Fatalf("result = %+v", v.result)
				}
			}
		})
	}
}

func TestAnalyzeBlocksPrompt(t *testing.T) {
	t.Parallel()
	prompt := rpc.Blocks(rpc.TextBlock("look"), rpc.ImageBlock("image/png", "aGk="))
	b, _ := json.Marshal(map[string]any{"role": "user", "content": prompt, "created_at": "t"})
	var m rpc.HistoryMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if v := analyze([]rpc.HistoryMessage{m}, 0, 0, prompt, 1); v.kind != verdictUnknown || !v.committed {
		t.Fatalf("verdict = %+v; want the multimodal prompt recognised", v)
	}
	if v := analyze([]rpc.HistoryMessage{m}, 0, 0, rpc.Text("look"), 1); v.committed {
		t.Fatalf("verdict = %+v; a text prompt must not match the block prompt", v)
	}
}

func TestFailureRoundTrip(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		ErrOverloaded, ErrTurnLost, ErrRuntimeUnavailable, ErrEngineStopped, ErrSessionNotFound,
		ErrMemberNotFound, ErrNotPeer, ErrMemberRetired, ErrInternal,
		&TurnError{SessionID: "s", Kind: ErrTurnOutcomeUnknown, Committed: true, Cause: rpc.ErrConnectionClosed},
		&rpc.Error{Code: rpc.CodeProviderError, Message: "down"},
	} {
		f := failureOf(err)
		b, jerr := json.Marshal(f)
		if jerr != nil {
			t.Fatal(jerr)
		}
		var back Failure
		if jerr := json.Unmarshal(b, &back); jerr != nil {
			t.Fatal(jerr)
		}
		got := back.Err()
		var sentinel error = err
		if te, ok := err.(*TurnError); ok {
			sentinel = te.Kind
			if back.SessionID != "s" || !back.Committed {
				t.Fatalf("failure %+v lost the turn's details", back)
			}
		}
		if re, ok := err.(*rpc.Error); ok {
			sentinel = &rpc.Error{Code: re.Code}
		}
		if !errorsIs(got, sentinel) || got.Error() != err.Error() {
			t.Fatalf("%v → %s → %v: does not match %v", err, b, got, sentinel)
		}
	}
	if failureOf(nil) != nil || (*Failure)(nil).Err() != nil {
		t.Fatal("nil error must map to a nil failure and back")
	}
}
