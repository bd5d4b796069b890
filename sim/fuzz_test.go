package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/sim"
)

// FuzzServeLine feeds arbitrary request lines to a runtime and checks that it
// answers with well-formed JSON-RPC lines only and shuts down at EOF. Seeds
// live in testdata/fuzz/FuzzServeLine.
func FuzzServeLine(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"turn/start","params":{"session_id":"x","prompt":"hi"}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"comms/send","params":{"session_id":"x","kind":"input","body":"b"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		// Directives deliberately hang, crash or corrupt the output.
		if bytes.Contains(line, []byte("[[sim:")) || bytes.Contains(line, []byte("sim:")) {
			t.Skip()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out bytes.Buffer
		if err := sim.Serve(ctx, bytes.NewReader(append(line, '\n')), &out, sim.Options{}); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		sc := bufio.NewScanner(&out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var msg struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Method  string          `json:"method"`
				Result  json.RawMessage `json:"result"`
				Error   *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
				t.Fatalf("invalid output line %q: %v", sc.Text(), err)
			}
			if msg.JSONRPC != "2.0" {
				t.Fatalf("missing jsonrpc: %s", sc.Text())
			}
			isResponse := msg.ID != nil && msg.Method == ""
			if isResponse && (msg.Result == nil) == (msg.Error == nil) {
				t.Fatalf("response needs exactly one of result/error: %s", sc.Text())
			}
			if msg.Error != nil && (msg.Error.Code == 0 || msg.Error.Message == "") {
				t.Fatalf("bad error: %s", sc.Text())
			}
			if !isResponse && msg.Method == "" {
				t.Fatalf("unclassifiable line: %s", sc.Text())
			}
		}
	})
}
