package sim_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/sim"
)

func TestHandshake(t *testing.T) {
	c := startSim(t, sim.Options{})
	var init struct {
		ServerInfo struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"server_info"`
		ContractVersion string   `json:"contract_version"`
		Methods         []string `json:"methods"`
	}
	c.ok("initialize", nil, &init)
	if init.ServerInfo.Name != "rkat-sim" || init.ContractVersion != "0.8.26" || init.ServerInfo.Version != "0.8.26" {
		t.Fatalf("initialize = %+v", init)
	}
	for _, m := range []string{"session/create", "turn/start", "turn/interrupt", "mob/create", "mob/list", "tools/register", "config/patch", "comms/send"} {
		if !slices.Contains(init.Methods, m) {
			t.Errorf("methods lacks %s", m)
		}
	}
	var caps struct {
		ContractVersion map[string]int `json:"contract_version"`
		Capabilities    []struct {
			ID          string          `json:"id"`
			Description string          `json:"description"`
			Status      json.RawMessage `json:"status"`
		} `json:"capabilities"`
	}
	c.ok("capabilities/get", nil, &caps)
	if caps.ContractVersion["major"] != 0 || caps.ContractVersion["minor"] != 8 || caps.ContractVersion["patch"] != 26 {
		t.Fatalf("contract_version = %v", caps.ContractVersion)
	}
	statuses := map[string]string{}
	for _, cp := range caps.Capabilities {
		if cp.Description == "" {
			t.Errorf("capability %s has no description", cp.ID)
		}
		var s string
		if json.Unmarshal(cp.Status, &s) == nil {
			statuses[cp.ID] = s
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cp.Status, &obj); err != nil || len(obj) != 1 {
			t.Fatalf("bad status %s", cp.Status)
		}
		for k := range obj {
			statuses[cp.ID] = k
		}
	}
	want := map[string]string{"sessions": "Available", "streaming": "Available", "shell": "DisabledByPolicy", "mcp_live": "NotCompiled", "skills": "Available", "comms": "Available", "work_graph": "NotSupportedByProtocol"}
	for id, st := range want {
		if statuses[id] != st {
			t.Errorf("capability %s = %q, want %q", id, statuses[id], st)
		}
	}
	if len(statuses) != 15 {
		t.Errorf("got %d capabilities, want all 15", len(statuses))
	}
	// initialized is a silent notification.
	c.send(`{"jsonrpc":"2.0","method":"initialized"}`)
	c.ok("session/list", nil, nil)
	for _, m := range c.messages() {
		if m.Method == "" && len(m.ID) == 0 {
			t.Fatalf("unexpected message %s", m.Raw)
		}
	}
}

func TestContractVersionOverride(t *testing.T) {
	c := startSim(t, sim.Options{ContractVersion: "0.9.1"})
	var init struct {
		ContractVersion string `json:"contract_version"`
	}
	c.ok("initialize", nil, &init)
	var caps struct {
		ContractVersion map[string]int `json:"contract_version"`
	}
	c.ok("capabilities/get", nil, &caps)
	if init.ContractVersion != "0.9.1" || caps.ContractVersion["minor"] != 9 || caps.ContractVersion["patch"] != 1 {
		t.Fatalf("got %q / %v", init.ContractVersion, caps.ContractVersion)
	}
}

func TestProtocolErrors(t *testing.T) {
	c := startSim(t, sim.Options{})
	cases := []struct {
		name, line string
		id         string
		code       int
	}{
		{"invalid json", `{"jsonrpc":"2.0","id":1,`, "null", -32700},
		{"not an object", `[1,2,3]`, "null", -32600},
		{"no method", `{"jsonrpc":"2.0","id":7}`, "7", -32600},
		{"bad jsonrpc", `{"jsonrpc":"1.0","id":8,"method":"session/list"}`, "8", -32600},
		{"object id", `{"jsonrpc":"2.0","id":{"x":1},"method":"session/list"}`, "null", -32600},
		{"unknown method", `{"jsonrpc":"2.0","id":9,"method":"nope/nothing","params":{}}`, "9", -32601},
		{"array params", `{"jsonrpc":"2.0","id":10,"method":"session/read","params":[1]}`, "10", -32602},
		{"string id", `{"jsonrpc":"2.0","id":"abc","method":"nope"}`, `"abc"`, -32601},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(c.messages())
			c.send(tc.line)
			m := c.waitAfter(before, tc.name, func(m *wireMsg) bool {
				return m.Error != nil && string(m.ID) == tc.id && m.Error.Code == tc.code
			})
			if m.Error.Message == "" {
				t.Fatalf("empty message")
			}
		})
	}
	// Blank lines are ignored and the connection keeps working.
	c.send("")
	c.send("   ")
	c.ok("session/list", nil, nil)
}

func TestParseArgs(t *testing.T) {
	cases := []struct {
		args    []string
		want    sim.Options
		wantErr bool
	}{
		{args: nil, want: sim.Options{}},
		{args: []string{"--realm", "r1", "--instance", "i1", "--realm-backend", "jsonl", "--state-root", "/s", "--context-root", "/c", "--user-config-root", "/u"},
			want: sim.Options{RealmID: "r1", InstanceID: "i1", RealmBackend: "jsonl", StateRoot: "/s", ContextRoot: "/c", UserConfigRoot: "/u"}},
		{args: []string{"--realm=r2", "--state-root=/x"}, want: sim.Options{RealmID: "r2", StateRoot: "/x"}},
		{args: []string{"--isolated"}, want: sim.Options{Isolated: true}},
		{args: []string{"--live-ws", "127.0.0.1:0", "--live-webrtc", "--tcp", "1.2.3.4:5", "--allow-remote", "--live-tool-timeout-ms", "500", "--live-ws-scheme", "wss"}, want: sim.Options{}},
		{args: []string{"rpc", "--isolated"}, want: sim.Options{Isolated: true}},
		{args: []string{"--realm", "r", "--isolated"}, wantErr: true},
		{args: []string{"--realm-backend", "postgres"}, wantErr: true},
		{args: []string{"--realm"}, wantErr: true},
		{args: []string{"--bogus"}, wantErr: true},
		{args: []string{"stray"}, wantErr: true},
		{args: []string{"--live-tool-timeout-ms", "x"}, wantErr: true},
	}
	for _, tc := range cases {
		got, err := sim.ParseArgs(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseArgs(%q) err = %v", tc.args, err)
			continue
		}
		if tc.wantErr {
			continue
		}
		if !slices.Equal(got.Args, tc.args) && !(len(got.Args) == 0 && len(tc.args) == 0) {
			t.Errorf("Args = %q", got.Args)
		}
		got.Args = nil
		if got.RealmID != tc.want.RealmID || got.InstanceID != tc.want.InstanceID || got.RealmBackend != tc.want.RealmBackend ||
			got.StateRoot != tc.want.StateRoot || got.ContextRoot != tc.want.ContextRoot || got.UserConfigRoot != tc.want.UserConfigRoot ||
			got.Isolated != tc.want.Isolated {
			t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
		}
	}
	if _, err := sim.ParseArgs([]string{"--help"}); !errors.Is(err, sim.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	env := map[string]string{"RKAT_SIM_TOKEN_DELAY": "15ms", "RKAT_SIM_SCRIPT": "/tmp/s.json", "RKAT_SIM_CONTRACT_VERSION": "0.8.1"}
	var o sim.Options
	if err := o.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if o.TokenDelay != 15*time.Millisecond || o.ScriptPath != "/tmp/s.json" || o.ContractVersion != "0.8.1" {
		t.Fatalf("ApplyEnv = %+v", o)
	}
	env["RKAT_SIM_TOKEN_DELAY"] = "soon"
	if err := o.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil {
		t.Fatal("bad delay accepted")
	}
}

func TestTranscript(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.jsonl")
	c := startSim(t, sim.Options{TranscriptPath: path})
	c.ok("tools/register", map[string]any{"tools": []map[string]any{{"name": "lookup", "description": "d", "input_schema": map[string]any{"type": "object"}}}}, nil)
	id := c.request("session/create", map[string]any{"prompt": `hi [[sim:tool lookup {"k":1}]] [[sim:garbage]] [[sim:unknown_event]]`})
	req := c.waitFor("tool/execute", func(m *wireMsg) bool { return m.Method == "tool/execute" })
	c.send(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":{"content":"v","is_error":false}}`)
	c.response(id)
	c.fail("nope", nil)
	if err := c.close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	injected := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var tl struct {
			Kind     string          `json:"kind"`
			Method   string          `json:"method"`
			Msg      json.RawMessage `json:"msg"`
			Raw      *string         `json:"raw"`
			Injected bool            `json:"injected"`
		}
		if err := json.Unmarshal([]byte(line), &tl); err != nil {
			t.Fatalf("bad transcript line %q: %v", line, err)
		}
		kinds[tl.Kind+" "+tl.Method]++
		if tl.Injected {
			injected++
		}
		if tl.Kind == "garbage" && tl.Raw == nil {
			t.Errorf("garbage line without raw")
		}
		if tl.Kind != "garbage" && !json.Valid(tl.Msg) {
			t.Errorf("msg is not JSON: %s", line)
		}
	}
	for _, k := range []string{"response tools/register", "response session/create", "response nope", "request tool/execute", "notification session/event", "garbage "} {
		if kinds[k] == 0 {
			t.Errorf("transcript lacks %q (have %v)", k, kinds)
		}
	}
	if injected != 2 {
		t.Errorf("injected lines = %d, want 2", injected)
	}
}

func TestLargeRequestLine(t *testing.T) {
	c := startSim(t, sim.Options{})
	big := strings.Repeat("word ", 100_000) // ~500 KB prompt, far beyond a 64 KiB read buffer
	r := c.create(map[string]any{"prompt": big})
	if !strings.Contains(r.Text, "100000 words") {
		t.Fatalf("reply = %.120q", r.Text)
	}
}
