package rpc

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"go.uber.org/zap"
)

// FuzzDispatchFrame feeds arbitrary lines to the frame decoder: it must
// never panic, must reject exactly the lines that are not one JSON object,
// and must never fault on a well-formed notification.
func FuzzDispatchFrame(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{}}`,
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":"cb-1","method":"tool/execute","params":{"name":"t","arguments":{}}}`,
		`{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"s","event":{"payload":{"type":"run_completed"}}}}`,
		`{"jsonrpc":"2.0","method":"session/stream_event","params":{"stream_id":"x","sequence":1,"event":{}}}`,
		`{"jsonrpc":"2.0","method":"mob/stream_end","params":{"stream_id":"x","ended":true}}`,
		`{"id":null,"error":{"code":-32700,"message":"parse"}}`,
		`{"method":"session/event","params":{"session_id":"\u0073","event":{"payload":{"type":"run_\u0066ailed"}}}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"session_id":`,
		`[1,2,3]`, `"str"`, `{}`, `{"a":1}x`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := newConn(io.Discard, zap.NewNop(), 8, OverflowFail, 0)
		c.creates = []*pendingCreate{{sink: &turnSink{}}, {sink: &turnSink{}}} // exercise the orphan buffer too
		err := c.dispatch(append([]byte(nil), line...))
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(line, &obj) == nil
		if !isObject && err == nil {
			t.Fatalf("accepted a line that is not a JSON object: %q", line)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v does not wrap ErrProtocol", err)
		}
	})
}

// FuzzScanLine checks the hand-written scanner against encoding/json.
func FuzzScanLine(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":null}],"c":"\u00e9\n"}`, `{"a":1e5,"b":-0.5,"c":true}`, `{"a":01}`, `{"a":"\x01"}`, `{"a":1,}`, ` {"a" : "b" } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]json.RawMessage
		want := json.Unmarshal(data, &obj) == nil
		got := scanLine(data, nil) == nil
		if got != want {
			t.Fatalf("scanLine(%q) ok=%v, encoding/json ok=%v", data, got, want)
		}
	})
}
