package sim_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mobd-dev/mobd/sim"
)

func realmOpts(root, backend string) sim.Options {
	return sim.Options{RealmID: "team-realm", StateRoot: root, RealmBackend: backend, InstanceID: "i"}
}

func TestPersistenceAcrossProcesses(t *testing.T) {
	for _, backend := range []string{"sqlite", "jsonl"} {
		t.Run(backend, func(t *testing.T) {
			root := t.TempDir()
			a := startSim(t, realmOpts(root, backend))
			s := a.create(map[string]any{"prompt": "My name is Grace", "labels": map[string]string{"app": "x"}, "comms_name": "grace"})
			a.turn(s.SessionID, "What is the capital of France?")
			lastSeq := a.events(s.SessionID)[len(a.events(s.SessionID))-1].Seq
			var cfg struct {
				Generation int `json:"generation"`
			}
			a.ok("config/patch", map[string]any{"patch": map[string]any{"custom": true}}, &cfg)
			a.ok("mob/create", map[string]any{"definition": triageDefinition()}, nil)
			a.ok("mob/spawn", map[string]any{"mob_id": "triage", "profile": "lead", "agent_identity": "lead-1"}, nil)
			deferred := a.ok("session/create", map[string]any{"prompt": "x", "initial_turn": "deferred"}, nil)
			if err := a.close(); err != nil {
				t.Fatal(err)
			}

			b := startSim(t, realmOpts(root, "memory")) // backend is pinned by the manifest
			var list struct {
				Sessions []struct {
					SessionID    string            `json:"session_id"`
					MessageCount int               `json:"message_count"`
					Labels       map[string]string `json:"labels"`
				} `json:"sessions"`
			}
			b.ok("session/list", map[string]any{"labels": map[string]string{"app": "x"}}, &list)
			if len(list.Sessions) != 1 || list.Sessions[0].SessionID != s.SessionID || list.Sessions[0].MessageCount != 4 {
				t.Fatalf("list in second process = %+v", list)
			}
			r := b.turn(s.SessionID, "What is my name?")
			if r.Text != "Your name is Grace." {
				t.Fatalf("continued turn = %q", r.Text)
			}
			evs := b.events(s.SessionID)
			if evs[0].Seq <= lastSeq {
				t.Fatalf("seq restarted: %d after %d", evs[0].Seq, lastSeq)
			}
			var h struct {
				MessageCount int `json:"message_count"`
			}
			b.ok("session/history", map[string]any{"session_id": s.SessionID}, &h)
			if h.MessageCount != 6 {
				t.Fatalf("history = %d", h.MessageCount)
			}
			var env struct {
				Config        map[string]any `json:"config"`
				Generation    int            `json:"generation"`
				Backend       string         `json:"backend"`
				ResolvedPaths map[string]any `json:"resolved_paths"`
			}
			b.ok("config/get", nil, &env)
			if env.Config["custom"] != true || env.Generation != cfg.Generation || env.Backend != backend || env.ResolvedPaths["root"] == nil {
				t.Fatalf("config in second process = %+v", env)
			}
			if (backend == "sqlite") != (env.ResolvedPaths["sessions_sqlite_path"] != nil) {
				t.Fatalf("sqlite path = %v", env.ResolvedPaths["sessions_sqlite_path"])
			}
			var members memberList
			b.ok("mob/members", map[string]any{"mob_id": "triage"}, &members)
			if len(members.Members) != 1 || members.Members[0].AgentIdentity != "lead-1" {
				t.Fatalf("mob in second process = %+v", members)
			}
			var dr struct {
				SessionID string `json:"session_id"`
			}
			_ = json.Unmarshal(deferred, &dr)
			if got := b.turn(dr.SessionID, "ping").Text; got != "pong" {
				t.Fatalf("deferred session in second process: %q", got)
			}
			b.ok("session/archive", map[string]any{"session_id": s.SessionID}, nil)
			if err := b.close(); err != nil {
				t.Fatal(err)
			}

			c := startSim(t, realmOpts(root, backend))
			if e := c.fail("session/read", map[string]any{"session_id": s.SessionID}); e.Code != -32001 {
				t.Fatalf("archived session visible: %+v", e)
			}
			entries, err := os.ReadDir(filepath.Join(root, "realms", "team-realm", "sessions"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".tmp") {
					t.Errorf("leftover temp file %s", e.Name())
				}
			}
		})
	}
}

func TestConcurrentProcessesShareRealm(t *testing.T) {
	root := t.TempDir()
	const procs, perProc = 3, 4
	clients := make([]*simClient, procs)
	for i := range clients {
		clients[i] = startSim(t, realmOpts(root, "jsonl"))
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perProc; j++ {
				ids := []string{}
				for k := 0; k < 2; k++ {
					ids = append(ids, c.request("session/create", map[string]any{"prompt": fmt.Sprintf("p%d-%d-%d", i, j, k)}))
				}
				for _, id := range ids {
					if m := c.response(id); m.Error != nil {
						t.Errorf("create: %+v", m.Error)
					}
				}
				c.request("config/patch", map[string]any{"patch": map[string]any{fmt.Sprintf("p%d", i): j}})
			}
		}()
	}
	wg.Wait()
	for _, c := range clients {
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
	}
	check := startSim(t, realmOpts(root, "jsonl"))
	var list struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	check.ok("session/list", nil, &list)
	if len(list.Sessions) != procs*perProc*2 {
		t.Fatalf("sessions = %d, want %d", len(list.Sessions), procs*perProc*2)
	}
	var env struct {
		Generation int            `json:"generation"`
		Config     map[string]any `json:"config"`
	}
	check.ok("config/get", nil, &env)
	if env.Generation != procs*perProc {
		t.Fatalf("config generation = %d, want %d (lost updates)", env.Generation, procs*perProc)
	}
	for i := range procs {
		if env.Config[fmt.Sprintf("p%d", i)] != float64(perProc-1) {
			t.Errorf("config = %v", env.Config)
		}
	}
}

func TestMemoryBackendDoesNotPersist(t *testing.T) {
	root := t.TempDir()
	a := startSim(t, realmOpts(root, "memory"))
	a.create(map[string]any{"prompt": "hi"})
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	b := startSim(t, realmOpts(root, "memory"))
	var list struct {
		Sessions []json.RawMessage `json:"sessions"`
	}
	b.ok("session/list", nil, &list)
	if len(list.Sessions) != 0 {
		t.Fatalf("memory realm leaked %d sessions", len(list.Sessions))
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("memory realm wrote files: %v", entries)
	}
}
