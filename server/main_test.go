package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/rpc/rpctest"
)

// simBin is the rkat-sim executable built for this test binary.
var simBin string

func TestMain(m *testing.M) {
	os.Exit(rpctest.MainWithSim(m, &simBin, rpctest.IgnoreDeadLetterThrottle))
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fixture is a Server on an engine over rkat-sim and an in-memory
// journal, served by httptest.
type fixture struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	engine *actors.Engine
	token  string
}

type fixtureOpts struct {
	token   string
	maxBody int64
	realm   bool
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	ctx := testCtx(t)
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel))
	state := t.TempDir()
	e, err := actors.Start(ctx, actors.Config{PoolSize: 1, BinaryPath: simBin, StateRoot: state, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	j, err := journal.Open(ctx, ":memory:", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	cfg := Config{Engine: e, Journal: j, Logger: log, Token: o.token, MaxBodyBytes: o.maxBody, Heartbeat: 50 * time.Millisecond}
	if o.realm {
		r := NewLazyRealm(rpc.Options{BinaryPath: simBin, RealmID: e.Config().RealmID, StateRoot: state, InstanceID: "api"})
		t.Cleanup(func() { r.Close() })
		cfg.Realm = r
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.RegisterOnShutdown(s.Drain)
	ts.Start()
	t.Cleanup(func() { s.Drain(); ts.Close() })
	return &fixture{t: t, srv: s, ts: ts, engine: e, token: o.token}
}

// do sends a request and returns the status and body.
func (f *fixture) do(method, path, contentType, body string, header ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(testCtx(f.t), method, f.ts.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// must sends a request and fails the test unless it answers want.
func (f *fixture) must(want int, method, path, contentType, body string) string {
	f.t.Helper()
	got, resp := f.do(method, path, contentType, body)
	if got != want {
		f.t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, resp)
	}
	return resp
}

const testDef = `{
  "id": "research",
  "orchestrator": {"profile": "lead"},
  "profiles": {
    "lead": {"model": "sim-model", "peer_description": "plans"},
    "analyst": {"model": "sim-model", "peer_description": "digs"}
  },
  "wiring": {"auto_wire_orchestrator": true},
  "flows": {
    "brief": {
      "steps": {
        "plan": {"role": "lead", "message": "What is the capital of {{ params.country }}?"},
        "dig": {"role": "analyst", "message": "echo: digging {{ steps.plan.output }}", "depends_on": ["plan"]}
      }
    },
    "slow": {
      "steps": {
        "wait": {"role": "analyst", "message": "[[sim:slow 200ms]] count to 10"}
      }
    }
  }
}`

// withMob creates the test mob with a lead and an analyst.
func (f *fixture) withMob() {
	f.t.Helper()
	f.must(201, "POST", "/v1/mobs", "application/json", testDef)
	f.must(201, "POST", "/v1/mobs/research/members", "", `{"profile":"lead"}`)
	f.must(201, "POST", "/v1/mobs/research/members", "", `{"profile":"analyst"}`)
}
