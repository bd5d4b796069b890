package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// TestE2EInterruptedDestroyIsFinished checks that a destroy the daemon
// was killed in, after it journalled the mob's end but before it deleted
// the mob's records, is finished by the next start: the mob's id is free
// again, for a definition of the definitions directory or one applied.
// Left half done, the records hid the mob (it was destroyed) yet made
// every create of its id fail with mob_exists, and a daemon whose
// definitions hold the mob refused to start.
func TestE2EInterruptedDestroyIsFinished(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	defs := filepath.Join(dir, "defs")
	if err := os.MkdirAll(defs, 0o700); err != nil {
		t.Fatal(err)
	}
	defFile := filepath.Join(defs, "demo.toml")
	if err := os.WriteFile(defFile, []byte(e2eDef), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)

	stop := func(d *daemonProc) {
		t.Helper()
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-d.done; err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, d.logs)
		}
	}
	a := startMobd(t, addr, state)
	if out := cli(t, addr, "apply", "-f", defFile); !strings.Contains(out, "mob demo created") {
		t.Fatalf("apply: %s", out)
	}
	stop(a)

	// halfDestroy leaves what a destroy leaves when the daemon is killed
	// between journalling the mob's end and deleting its records.
	halfDestroy := func() {
		t.Helper()
		j, err := journal.Open(ctx, filepath.Join(state, "journal.db"), journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := j.AppendSync(ctx, journal.Record{Mob: "demo", Kind: mob.EventMobDestroying, Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
	}
	halfDestroy()

	// The definitions directory holds the mob: the daemon starts, and
	// creates it anew.
	b := startMobd(t, addr, state, "--definitions", defs)
	var mobs []struct {
		ID   string `json:"id"`
		Runs int    `json:"runs"`
	}
	if err := json.Unmarshal([]byte(cli(t, addr, "mobs", "-o", "json")), &mobs); err != nil || len(mobs) != 1 || mobs[0].ID != "demo" {
		t.Fatalf("mobs after the restart: %+v (%v)", mobs, err)
	}
	stop(b)

	// Without it, the destroyed mob is gone, and its id free.
	halfDestroy()
	startMobd(t, addr, state)
	if out := cli(t, addr, "mobs"); strings.Contains(out, "demo") {
		t.Fatalf("the destroyed mob is listed: %s", out)
	}
	if out := cli(t, addr, "apply", "-f", defFile); !strings.Contains(out, "mob demo created") {
		t.Fatalf("apply after the restart: %s", out)
	}
}
