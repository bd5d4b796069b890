package actors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/rpc"
)

func TestMembers(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 2})
	ctx := testCtx(t)
	lead, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "lead", Role: "lead", Profile: "plans the work"})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev", Role: "developer", Peers: []string{"lead"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev"}); !errors.Is(err, actors.ErrDuplicateMember) {
		t.Fatalf("duplicate identity = %v", err)
	}
	if got := e.Members(); !reflect.DeepEqual(got, []string{"dev", "lead"}) {
		t.Fatalf("members %v", got)
	}

	// dev listed lead as a peer, so lead was wired back.
	st, err := lead.State(ctx)
	if err != nil || !reflect.DeepEqual(st.Peers, []string{"dev"}) || st.Role != "lead" || st.SessionID != lead.Session().ID() || st.Runtime == "" {
		t.Fatalf("lead state = %+v, %v", st, err)
	}

	ans, err := dev.Ask(ctx, "echo: on it")
	if err != nil || ans.Text != "on it" || ans.Identity != "dev" || ans.SessionID != dev.Session().ID() || ans.Usage.OutputTokens == 0 {
		t.Fatalf("ask = %+v, %v", ans, err)
	}
	ans, err = lead.Send(ctx, "dev", "status?")
	if err != nil || ans.Identity != "dev" || !strings.Contains(ans.Text, "Message from lead (lead): status?") {
		t.Fatalf("send to peer = %+v, %v", ans, err)
	}

	if err := lead.Unwire(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.Send(ctx, "dev", "hello?"); !errors.Is(err, actors.ErrNotPeer) {
		t.Fatalf("send to an unwired member = %v", err)
	}
	// Any actor can message a member with its plain messages; a member
	// refuses asks from members it is not wired to.
	reply, err := e.ActorSystem().Root.RequestFuture(dev.PID(), &actors.Ask{Prompt: "x", From: "lead"}, 10*time.Second).Result()
	if a, ok := reply.(*actors.Answer); err != nil || !ok || !errors.Is(a.Error.Err(), actors.ErrNotPeer) {
		t.Fatalf("ask from an unwired member = %+v, %v", reply, err)
	}
	if _, err := e.Member("dev").Ask(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := lead.Wire(ctx, "ghost"); !errors.Is(err, actors.ErrMemberNotFound) {
		t.Fatalf("wire to an unknown member = %v", err)
	}
	if err := lead.Wire(ctx, "dev"); err != nil {
		t.Fatal(err)
	}
	if st, _ := dev.State(ctx); !reflect.DeepEqual(st.Peers, []string{"lead"}) || st.Turns != 3 {
		t.Fatalf("dev state = %+v", st)
	}

	if err := dev.Retire(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Ask(ctx, "still there?"); !errors.Is(err, actors.ErrMemberRetired) {
		t.Fatalf("ask a retired member = %v", err)
	}
	if e.Member("dev") != nil {
		t.Fatal("retired member still listed")
	}
	if _, err := lead.Send(ctx, "dev", "hello?"); !errors.Is(err, actors.ErrMemberNotFound) {
		t.Fatalf("send to a retired member = %v", err)
	}
	// The member held its session's actor, which nobody else holds: it
	// stops, and the session stays in the realm.
	select {
	case <-dev.Session().Stopped():
	case <-ctx.Done():
		t.Fatal("the retired member's session actor did not stop")
	}
	if _, ok := e.Sessions()[dev.Session().ID()]; ok {
		t.Fatal("the retired member's session actor is still listed")
	}
	if _, err := dev.Session().Turn(ctx, rpc.Text("echo: hi"), rpc.TurnOptions{}); !errors.Is(err, actors.ErrSessionReleased) {
		t.Fatalf("turn on the released session actor = %v, want ErrSessionReleased", err)
	}
	// The identity is free again, and the new member can take over the
	// retired member's session.
	again, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev", SessionID: dev.Session().ID()})
	if err != nil || again.Session().ID() != dev.Session().ID() {
		t.Fatalf("respawn = %v, %v", again, err)
	}
	if ans, err := again.Ask(ctx, "echo: back"); err != nil || ans.Text != "back" {
		t.Fatalf("respawned ask = %+v, %v", ans, err)
	}
}

// Member messages are plain data: they survive a JSON round trip
// unchanged, so they can be journalled and sent across a cluster.
func TestMemberMessagesSerialise(t *testing.T) {
	t.Parallel()
	msgs := []any{
		&actors.Ask{Prompt: "p", From: "lead"},
		&actors.PeerMessage{To: "dev", Body: "b"},
		&actors.WirePeer{Peer: "x"},
		&actors.UnwirePeer{Peer: "x"},
		&actors.GetState{},
		&actors.RetireMember{},
		&actors.Answer{Identity: "dev", SessionID: "s", Text: "t", Usage: rpc.Usage{InputTokens: 1, OutputTokens: 2, TotalTokens: 3}, Recovered: true, Attempts: 2},
		&actors.Answer{Identity: "dev", Error: &actors.Failure{Code: actors.CodeTurnOutcomeUnknown, Message: "m", SessionID: "s", Committed: true}},
		&actors.MemberState{Identity: "dev", Role: "r", Profile: "p", SessionID: "s", Runtime: "runtime-0", Peers: []string{"a", "b"}, Turns: 3, Pending: 1, Retired: true},
		&actors.MemberSpec{Identity: "dev", Role: "r", Profile: "p", Peers: []string{"lead"}, SessionID: "s", Prompt: "hi", SystemPrompt: "sp", Model: "m", Provider: "anthropic", Labels: map[string]string{"k": "v"}},
	}
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		back := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		if err := json.Unmarshal(b, back); err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("%T: %s decodes to %+v", m, b, back)
		}
	}
	f := &actors.Failure{Code: actors.CodeNotPeer, Message: "nope"}
	if !errors.Is(f.Err(), actors.ErrNotPeer) {
		t.Fatal("Failure.Err does not match its sentinel")
	}
}

// Asks with the same idempotency key run one turn: a duplicate sent while
// the turn runs and one sent after it both get the same answer. An output
// schema yields structured output.
func TestMemberAskIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	m, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "writer", Role: "writer"})
	if err != nil {
		t.Fatal(err)
	}
	ask := &actors.Ask{Prompt: "[[sim:slow 200ms]] What is the capital of France?", Key: "run-1/step-a/0"}
	answers := make(chan *actors.Answer, 2)
	for range 2 {
		go func() {
			a, err := m.AskWith(ctx, ask)
			if err != nil {
				t.Error(err)
			}
			answers <- a
		}()
	}
	a1, a2 := <-answers, <-answers
	if a1 == nil || a2 == nil || a1.Text != a2.Text || a1.Key != ask.Key || a2.Key != ask.Key {
		t.Fatalf("concurrent duplicates = %+v, %+v", a1, a2)
	}
	a3, err := m.AskWith(ctx, ask)
	if err != nil || a3.Text != a1.Text {
		t.Fatalf("late duplicate = %+v, %v", a3, err)
	}
	if st, _ := m.State(ctx); st.Turns != 1 { // one keyed turn for three asks
		t.Fatalf("turns = %d, want 1", st.Turns)
	}

	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)
	a4, err := m.AskWith(ctx, &actors.Ask{Content: new(rpc.Text("Capital of Italy?")), OutputSchema: schema, Key: "k2"})
	if err != nil || len(a4.Output) == 0 || a4.Key != "k2" {
		t.Fatalf("structured ask = %+v, %v", a4, err)
	}
	var out struct{ City string }
	if err := json.Unmarshal(a4.Output, &out); err != nil || out.City == "" {
		t.Fatalf("output %s: %v", a4.Output, err)
	}
}

// TestMemberAskAfterSessionStopped checks that an ask reaching a member
// whose session actor has stopped fails at once instead of waiting for an
// answer that cannot come, and that the member stays usable for state.
func TestMemberAskAfterSessionStopped(t *testing.T) {
	t.Parallel()
	e := startEngineWith(t, actors.Config{PoolSize: 1}, true)
	ctx := testCtx(t)
	m, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ActorSystem().Root.StopFuture(m.Session().PID()).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "k1"} {
		ans, err := m.AskWith(ctx, &actors.Ask{Prompt: "echo: hello", Key: key})
		if err == nil || !errors.Is(err, actors.ErrSessionNotFound) {
			t.Fatalf("ask with key %q after the session stopped = %+v, %v", key, ans, err)
		}
	}
	if st, err := m.State(ctx); err != nil || st.Identity != "solo" {
		t.Fatalf("state = %+v, %v", st, err)
	}
}

// TestMemberDirectAnswers covers the answers the connection's reader sends
// the asker itself: the member settles them at its next message, so its
// state counts them, and a member retired while a turn runs waits for that
// turn's end before it stops.
func TestMemberDirectAnswers(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	m, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		want := fmt.Sprint("t", i)
		ans, err := m.AskWith(ctx, &actors.Ask{Prompt: "echo: " + want, Key: "k" + want})
		if err != nil || ans.Text != want || ans.Key != "k"+want || ans.Identity != "dev" {
			t.Fatalf("ask %d = %+v, %v", i, ans, err)
		}
		st, err := m.State(ctx)
		if err != nil || st.Pending != 0 || st.Turns != i+1 {
			t.Fatalf("after ask %d: state %+v, %v; want no ask pending and %d turns", i, st, err, i+1)
		}
	}
	if again, err := m.AskWith(ctx, &actors.Ask{Prompt: "echo: other", Key: "kt3"}); err != nil || again.Text != "t3" {
		t.Fatalf("duplicate of an answered key = %+v, %v", again, err)
	}

	answered := make(chan *actors.Answer, 1)
	go func() {
		ans, err := m.AskWith(ctx, &actors.Ask{Prompt: "count to 30 [[sim:slow 5ms]]"})
		if err != nil {
			t.Error(err)
		}
		answered <- ans
	}()
	for {
		st, err := m.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the ask never became pending")
		case <-time.After(time.Millisecond):
		}
	}
	if err := m.Retire(ctx); err != nil {
		t.Fatalf("retire with a turn running: %v", err)
	}
	if ans := <-answered; ans == nil || !strings.Contains(ans.Text, "30") {
		t.Fatalf("the running ask's answer = %+v", ans)
	}
}

// TestMemberAskBehindRetireIsAnswered checks that an Ask reaching a member
// right behind a RetireMember (any actor may send both to MemberRef.PID) is
// answered with ErrMemberRetired, or at worst as a dead letter, never
// dropped: the member stops behind the messages already in its mailbox
// rather than with protoactor's Stop, which overtakes them and drops them
// without a reply, leaving the asker waiting until its timeout.
func TestMemberAskBehindRetireIsAnswered(t *testing.T) {
	t.Parallel()
	e := startEngineWith(t, actors.Config{PoolSize: 1}, true)
	ctx := testCtx(t)
	m, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	root := e.ActorSystem().Root
	retire := root.RequestFuture(m.PID(), &actors.RetireMember{}, 10*time.Second)
	ask := root.RequestFuture(m.PID(), &actors.Ask{Prompt: "echo: hi"}, 3*time.Second)
	if _, err := retire.Result(); err != nil {
		t.Fatalf("retire: %v", err)
	}
	reply, err := ask.Result()
	switch {
	case errors.Is(err, actor.ErrTimeout):
		t.Fatalf("an Ask sent right behind RetireMember was never answered (dropped in the stopping mailbox): %v", err)
	case err != nil && !errors.Is(err, actor.ErrDeadLetter):
		t.Fatalf("ask: %v", err)
	case err == nil:
		if a, ok := reply.(*actors.Answer); !ok || !errors.Is(a.Error.Err(), actors.ErrMemberRetired) {
			t.Fatalf("ask behind retire = %#v, want ErrMemberRetired", reply)
		}
	}
	// And it did stop.
	if err := m.Retire(ctx); err != nil && !errors.Is(err, actors.ErrMemberRetired) {
		t.Fatalf("the retired member did not stop: %v", err)
	}
}

// TestMemberCancelAndWaitAsk checks CancelAsk on a queued and on a running
// turn, and that WaitAsk answers when a turn is over without running one.
func TestMemberCancelAndWaitAsk(t *testing.T) {
	t.Parallel()
	e := startEngine(t, actors.Config{PoolSize: 1})
	ctx := testCtx(t)
	m, err := e.SpawnMember(ctx, actors.MemberSpec{Identity: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	root := e.ActorSystem().Root
	wait := func(key string) *actors.Answer {
		t.Helper()
		r, err := root.RequestFuture(m.PID(), &actors.WaitAsk{Key: key}, 20*time.Second).Result()
		if err != nil {
			t.Fatalf("wait %s: %v", key, err)
		}
		return r.(*actors.Answer)
	}
	if a := wait("nobody"); !errors.Is(a.Error.Err(), actors.ErrUnknownAsk) || a.Key != "nobody" {
		t.Fatalf("WaitAsk of an unknown key = %+v", a)
	}

	type result struct {
		a   *actors.Answer
		err error
	}
	long, queued := make(chan result, 1), make(chan result, 1)
	start := time.Now()
	go func() {
		a, err := m.AskWith(ctx, &actors.Ask{Prompt: "[[sim:slow 30s]] think long", Key: "long"})
		long <- result{a, err}
	}()
	waitPending(t, m, 1)
	go func() {
		a, err := m.AskWith(ctx, &actors.Ask{Prompt: "echo: next", Key: "next"})
		queued <- result{a, err}
	}()
	waitPending(t, m, 2)
	// wait must not fail the test from this goroutine: t.Fatalf would end
	// the goroutine without a send, and the test would hang on <-waited.
	waited := make(chan result, 1)
	go func() {
		r, err := root.RequestFuture(m.PID(), &actors.WaitAsk{Key: "long"}, 20*time.Second).Result()
		a, _ := r.(*actors.Answer)
		waited <- result{a, err}
	}()

	root.Send(m.PID(), &actors.CancelAsk{Key: "next"}) // queued: dropped
	if r := <-queued; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("the cancelled queued ask = %+v, %v; want context.Canceled", r.a, r.err)
	}
	root.Send(m.PID(), &actors.CancelAsk{Key: "long"}) // running: interrupted
	r := <-long
	wr := <-waited
	if wr.err != nil {
		t.Fatalf("wait long: %v", wr.err)
	}
	w := wr.a
	if time.Since(start) > 20*time.Second {
		t.Fatalf("the cancelled running turn took %s", time.Since(start))
	}
	if w.Key != "long" || w.Text != r.a.Text || (w.Error == nil) != (r.err == nil) {
		t.Fatalf("WaitAsk answered %+v; the ask %+v, %v", w, r.a, r.err)
	}
	root.Send(m.PID(), &actors.CancelAsk{Key: "long"}) // over: ignored
	if a, err := m.AskWith(ctx, &actors.Ask{Prompt: "echo: after", Key: "after"}); err != nil || a.Text == "" {
		t.Fatalf("an ask after the cancels = %+v, %v", a, err)
	}
}

// waitPending waits until member m has n asks pending.
func waitPending(t *testing.T, m *actors.MemberRef, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := m.State(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("member has %d asks pending, want %d", st.Pending, n)
		}
	}
}
