package rpc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// checkResultDecode fails t unless unmarshalLong agrees with encoding/json
// on raw, as a run result and as a run_completed event: the same
// error-ness and the same value.
func checkResultDecode(t *testing.T, raw []byte) {
	t.Helper()
	var want, got RunResult
	werr := json.Unmarshal(raw, &want)
	gerr := unmarshalLong(raw, &got, "text", "", func(s string) { got.Text = s })
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("errors differ: encoding/json %v, ours %v, for %.200q", werr, gerr, raw)
	}
	if werr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("results differ for %.200q:\nwant %+v\ngot  %+v", raw, want, got)
	}
	// A known text, right or wrong, changes nothing but what memory the
	// result's text is in.
	for _, known := range []string{want.Text, want.Text + "x", strings.ToUpper(want.Text)} {
		var k RunResult
		kerr := unmarshalLong(raw, &k, "text", known, func(s string) { k.Text = s })
		if (werr == nil) != (kerr == nil) || werr == nil && !reflect.DeepEqual(want, k) {
			t.Fatalf("with known text %.20q: %v, %+v; want %v, %+v", known, kerr, k, werr, want)
		}
	}
	event := []byte(strings.Replace(string(raw), `"text"`, `"result"`, -1))
	var wantEv RunCompleted
	werr = json.Unmarshal(event, &wantEv)
	gotEv, gerr := decodeRunCompleted(event)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("run_completed errors differ: encoding/json %v, ours %v, for %.200q", werr, gerr, event)
	}
	if werr == nil && !reflect.DeepEqual(&wantEv, gotEv) {
		t.Fatalf("run_completed differs for %.200q", event)
	}
}

func TestUnmarshalLong(t *testing.T) {
	long := strings.Repeat(`token \"q\" \u00e9 \ud83d\ude00 `, 400)
	for _, raw := range []string{
		`{"session_id":"s","text":"` + long + `","turns":1,"tool_calls":0,"usage":{"input_tokens":3,"output_tokens":4}}`,
		`{"text":"` + long + `","session_id":"s","structured_output":{"a":[1,2]},"schema_warnings":[{"provider":"p","path":"/","message":"m"}]}`,
		`{"session_id":"s","text":"short","TEXT":"` + long + `"}`,
		`{"session_id":"s","Text":"` + long + `","text":"last wins"}`,
		`{"session_id":"s","text":"` + long + `","turns":-1}`,
		`{"session_id":"s","text":"` + long + `","turns":"x"}`,
		`{"session_id":"s","te\u0078t":"` + long + `"}`,
		`{"session_id":"s","text":"` + long + `"`,
		`{"session_id":"s","text":["` + long + `"]}`,
		`{"session_id":"s","text":"` + long + `"} trailing`,
	} {
		checkResultDecode(t, []byte(raw))
	}
}

func FuzzUnmarshalLong(f *testing.F) {
	f.Add([]byte(`{"session_id":"s","text":"` + strings.Repeat("ab\\n", 2000) + `","turns":2}`))
	f.Add([]byte(`{"session_id":"s","text":"x"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkResultDecode(t, raw)
	})
}
