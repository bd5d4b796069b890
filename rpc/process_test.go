package rpc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
	"go.uber.org/zap/zaptest"
)

// connectSim starts the rkat-sim executable as the runtime.
func connectSim(t *testing.T, opts rpc.Options) *rpc.Client {
	t.Helper()
	opts.BinaryPath = simBin
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	c, err := rpc.Connect(testCtx(t), opts)
	if err != nil {
		t.Fatalf("connect to rkat-sim: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestProcessCrashMidTurn(t *testing.T) {
	c := connectSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	pending := make(chan error, 1)
	go func() {
		// Another call in flight when the runtime dies fails too.
		_, err := s.Turn(ctx, rpc.Text("count to 100000 [[sim:slow 5ms]]"), rpc.TurnOptions{})
		pending <- err
	}()
	other := newSession(t, ctx, c)
	st := other.Stream(ctx, rpc.Text("count to 50 [[sim:crash]]"), rpc.TurnOptions{})
	for st.Next() {
	}
	var exit *rpc.ExitError
	if !errors.As(st.Err(), &exit) || !errors.Is(st.Err(), rpc.ErrConnectionClosed) {
		t.Fatalf("stream error = %v, want *ExitError wrapping ErrConnectionClosed", st.Err())
	}
	if exit.ExitCode != 3 || len(exit.Stderr) == 0 {
		t.Fatalf("exit = %+v, want code 3 and stderr lines", exit)
	}
	if err := <-pending; !errors.As(err, &exit) {
		t.Fatalf("pending turn = %v", err)
	}
	if _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); !errors.Is(err, rpc.ErrConnectionClosed) {
		t.Fatalf("call after crash = %v", err)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after the runtime died")
	}
}

func TestProcessHangHonoursDeadlinesAndClose(t *testing.T) {
	c := connectSim(t, rpc.Options{CloseTimeout: 300 * time.Millisecond})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := s.Turn(short, rpc.Text("x [[sim:hang hard]]"), rpc.TurnOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("turn on a hung runtime = %v, want DeadlineExceeded", err)
	}
	short2, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if _, err := c.ListSessions(short2, rpc.ListSessionsOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call on a hung runtime = %v", err)
	}
	pid := c.PID()
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("Close returned after %v: the hung runtime cannot have been killed after the grace", d)
	}
	if p, _ := os.FindProcess(pid); p != nil {
		if err := p.Signal(nil); err == nil {
			t.Fatalf("runtime %d still alive after Close", pid)
		}
	}
}

func TestProcessGarbageLine(t *testing.T) {
	c := connectSim(t, rpc.Options{})
	ctx := testCtx(t)
	_, err := c.CreateSession(ctx, rpc.Text("x [[sim:garbage]] [[sim:slow 50ms]]"), rpc.SessionOptions{})
	if !errors.Is(err, rpc.ErrProtocol) {
		t.Fatalf("call racing a garbage line = %v, want ErrProtocol", err)
	}
	if _, err := c.ListSessions(ctx, rpc.ListSessionsOptions{}); !errors.Is(err, rpc.ErrProtocol) {
		t.Fatalf("later call = %v", err)
	}
}

func TestRealmPersistsAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	opts := rpc.Options{RealmID: "team", StateRoot: root, RealmBackend: "jsonl"}
	ctx := testCtx(t)
	first := connectSim(t, opts)
	s, err := first.CreateSession(ctx, rpc.Text("My name is Ada."), rpc.SessionOptions{Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := connectSim(t, opts)
	list, err := second.ListSessions(ctx, rpc.ListSessionsOptions{Labels: map[string]string{"k": "v"}})
	if err != nil || len(list) != 1 || list[0].SessionID != s.ID() {
		t.Fatalf("second process lists %+v, %v", list, err)
	}
	res, err := second.Session(s.ID()).Turn(ctx, rpc.Text("What is my name?"), rpc.TurnOptions{})
	if err != nil || !strings.Contains(res.Text, "Ada") {
		t.Fatalf("continued turn = %+v, %v", res, err)
	}
	h, err := second.ReadSessionHistory(ctx, s.ID(), 0, 0)
	if err != nil || h.MessageCount != 4 {
		t.Fatalf("history after restart = %+v, %v", h, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root)); len(entries) == 0 {
		t.Fatal("nothing stored under the state root")
	}

	// A fresh process without the realm sees none of it.
	isolated := connectSim(t, rpc.Options{Isolated: true})
	if l, err := isolated.ListSessions(ctx, rpc.ListSessionsOptions{}); err != nil || len(l) != 0 {
		t.Fatalf("isolated realm lists %v, %v", l, err)
	}
}

func TestConnectRejectsRealmWithIsolated(t *testing.T) {
	_, err := rpc.Connect(testCtx(t), rpc.Options{BinaryPath: simBin, RealmID: "r", Isolated: true})
	if !errors.Is(err, rpc.ErrInvalidArgs) {
		t.Fatalf("realm+isolated = %v, want ErrInvalidArgs before spawning", err)
	}
}

func TestConnectMissingBinary(t *testing.T) {
	t.Setenv("MEERKAT_BIN_PATH", filepath.Join(t.TempDir(), "nope", "rkat-rpc"))
	_, err := rpc.Connect(testCtx(t), rpc.Options{})
	if !errors.Is(err, rpc.ErrBinaryNotFound) {
		t.Fatalf("missing binary = %v", err)
	}
}

func TestConnectViaEnvAndStderrLogged(t *testing.T) {
	t.Setenv("MEERKAT_BIN_PATH", simBin)
	c, err := rpc.Connect(testCtx(t), rpc.Options{BinaryPath: "/definitely/not/used", Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatalf("MEERKAT_BIN_PATH must win over BinaryPath: %v", err)
	}
	defer c.Close()
	if c.Binary().Path != simBin || c.PID() == 0 {
		t.Fatalf("binary = %+v pid = %d", c.Binary(), c.PID())
	}
}

func TestKillFailsPendingWithExitError(t *testing.T) {
	c := connectSim(t, rpc.Options{})
	ctx := testCtx(t)
	s := newSession(t, ctx, c)
	st := s.Stream(ctx, rpc.Text("count to 10000 [[sim:slow 5ms]]"), rpc.TurnOptions{})
	if !st.Next() {
		t.Fatal(st.Err())
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	for st.Next() {
	}
	var exit *rpc.ExitError
	if !errors.As(st.Err(), &exit) || exit.Signal != "killed" {
		t.Fatalf("stream after Kill = %v", st.Err())
	}
	// A call written after the death reports the exit too, not a bare pipe error.
	if _, err := s.Turn(ctx, rpc.Text("again"), rpc.TurnOptions{}); !errors.As(err, &exit) {
		t.Fatalf("turn after Kill = %v", err)
	}
	if err := c.Kill(); err != nil {
		t.Fatalf("second Kill = %v", err)
	}
}
