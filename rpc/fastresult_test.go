package rpc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// runResultSeeds are run results in the usual form and near it.
var runResultSeeds = []string{
	`{"session_id":"01a216e0-c612-7635-b654-e218f116edf3","session_ref":null,"text":"the quick brown fox","turns":1,"tool_calls":0,"usage":{"input_tokens":226,"output_tokens":4,"total_tokens":230},"terminal_cause_kind":null,"structured_output":null,"extraction_error":null,"schema_warnings":null}`,
	`{"session_id":"s","session_ref":"ref-1","text":"line\none \u00e9\ud83d\ude00 \"q\"","turns":2,"tool_calls":3,"usage":{"input_tokens":1,"output_tokens":2,"cache_creation_tokens":5,"cache_read_tokens":null},"terminal_cause_kind":"end_turn","structured_output":{"a":[1,2,{"b":null}],"c":"d"}}`,
	` { "text" : "" , "session_id" : "s" , "usage" : { } } `,
	`{"session_id":"s","text":"t","structured_output":[1, 2.5e3, true]}`,
	"{\"session_id\":\"s\",\"text\":\"caf\xc3\xa9, bad \xff, cut \xe2\x82\"}", // invalid UTF-8 becomes U+FFFD
	// Each of these leaves the fast path.
	`{"session_id":"s","text":"a","text":"b"}`,
	`{"session_id":"s","Text":"case folds"}`,
	`{"session_id":"s","text":"t","extra":1}`,
	`{"session_id":"s","extraction_error":{"last_output":"x","attempts":2,"reason":"r"}}`,
	`{"session_id":"s","schema_warnings":[{"path":"/a","message":"m"}]}`,
	`{"session_id":"s","skill_diagnostics":{"x":1}}`,
	`{"session_id":"s","turns":4294967296}`,
	`{"session_id":"s","turns":-1}`,
	`{"session_id":"s","turns":1.5}`,
	`{"session_id":"s","usage":{"input_tokens":1,"input_tokens":2}}`,
	`{"session_id":"s","usage":{"input_tokens":1,"accounting":{}}}`,
	`{"session_id":"s","usage":null}`,
	`{"session_id":null}`,
	`{"session_id":"s"} x`,
	`{"session_id":"s",}`,
	`{}`,
	`[]`,
}

// TestFastRunResult checks that the fast path takes the usual form and
// leaves the rest to encoding/json, and that decodeRunResult decodes every
// seed as encoding/json does.
func TestFastRunResult(t *testing.T) {
	fast := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}
	for i, seed := range runResultSeeds {
		var r RunResult
		if got := fastRunResult([]byte(seed), "", &r); got != fast[i] {
			t.Errorf("seed %d: fast path took it: %v, want %v: %s", i, got, fast[i], seed)
		}
		checkRunResult(t, []byte(seed))
	}
	// The turn's text, already made by the reader, is used as it is.
	known := strings.Repeat("x", 10)
	var r RunResult
	if !fastRunResult([]byte(`{"session_id":"s","text":"`+known+`"}`), known, &r) || unsafe.StringData(r.Text) != unsafe.StringData(known) {
		t.Fatalf("text %q is not the known text itself", r.Text)
	}
}

// FuzzRunResult checks that whatever the fast path accepts, it decodes as
// encoding/json does.
func FuzzRunResult(f *testing.F) {
	for _, s := range runResultSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRunResult(t, data)
	})
}

// checkRunResult compares the fast path with encoding/json on data.
func checkRunResult(t *testing.T, data []byte) {
	t.Helper()
	var fast RunResult
	if !fastRunResult(data, "", &fast) {
		return
	}
	var want RunResult
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, data)
	}
	if string(want.StructuredOutput) == "null" {
		want.StructuredOutput = nil
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("fast path decoded %q as\n%+v\nencoding/json as\n%+v", data, fast, want)
	}
}

// BenchmarkDecodeRunResult decodes a typical run result with the fast path
// and with encoding/json.
func BenchmarkDecodeRunResult(b *testing.B) {
	raw := []byte(runResultSeeds[0])
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRunResult(raw, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r RunResult
			if err := unmarshalLong(raw, &r, "text", "", func(t string) { r.Text = t }); err != nil {
				b.Fatal(err)
			}
		}
	})
}
