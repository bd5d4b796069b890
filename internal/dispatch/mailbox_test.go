package dispatch_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/mobd-dev/mobd/internal/dispatch"
)

// inlineMsg is the message type the test mailboxes run on the poster's
// goroutine.
type inlineMsg struct{ n int }

// queuedMsg is any other user message.
type queuedMsg struct{ n int }

func isInline(msg any) bool {
	_, ok := msg.(*inlineMsg)
	return ok
}

// manualDispatcher queues the functions it is given until the test runs
// them.
type manualDispatcher struct {
	mu  sync.Mutex
	fns []func()
}

func (d *manualDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	d.fns = append(d.fns, fn)
	d.mu.Unlock()
}

func (d *manualDispatcher) Throughput() int { return 300 }

func (d *manualDispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.fns)
}

// runAll runs the queued functions, and those they queue, until none is
// left.
func (d *manualDispatcher) runAll() {
	for {
		d.mu.Lock()
		if len(d.fns) == 0 {
			d.mu.Unlock()
			return
		}
		fn := d.fns[0]
		d.fns = d.fns[1:]
		d.mu.Unlock()
		fn()
	}
}

// recorder is a MessageInvoker that records what it is given, and checks
// that it never runs twice at once.
type recorder struct {
	mu        sync.Mutex
	user      []any
	sys       []any
	escalated []any
	active    atomic.Int32
	overlap   atomic.Bool
	onUser    func(msg any)
}

func (r *recorder) InvokeSystemMessage(msg any) {
	r.mu.Lock()
	r.sys = append(r.sys, msg)
	r.mu.Unlock()
}

func (r *recorder) InvokeUserMessage(msg any) {
	if r.active.Add(1) != 1 {
		r.overlap.Store(true)
	}
	defer r.active.Add(-1)
	r.mu.Lock()
	r.user = append(r.user, msg)
	r.mu.Unlock()
	if r.onUser != nil {
		r.onUser(msg)
	}
}

func (r *recorder) EscalateFailure(reason any, msg any) {
	r.mu.Lock()
	r.escalated = append(r.escalated, reason, msg)
	r.mu.Unlock()
}

func (r *recorder) users() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.user)
}

func newMailbox(r *recorder, d actor.Dispatcher) actor.Mailbox {
	mb := dispatch.Mailbox(isInline)()
	mb.RegisterHandlers(r, d)
	mb.Start()
	return mb
}

func TestMailboxInline(t *testing.T) {
	r, d := &recorder{}, &manualDispatcher{}
	mb := newMailbox(r, d)

	// An inline message to an idle mailbox is handled before Post returns,
	// also inside an envelope, and leaves nothing for the dispatcher.
	mb.PostUserMessage(&inlineMsg{1})
	mb.PostUserMessage(actor.WrapEnvelope(&inlineMsg{2}))
	if got := len(r.users()); got != 2 || d.pending() != 0 {
		t.Fatalf("after two inline posts: %d handled, %d scheduled; want 2, 0", got, d.pending())
	}

	// Any other message goes to the dispatcher; while it is queued the
	// mailbox is busy, so an inline message waits behind it, in order.
	mb.PostUserMessage(&queuedMsg{3})
	mb.PostUserMessage(&inlineMsg{4})
	if got := len(r.users()); got != 2 || d.pending() != 1 || mb.UserMessageCount() != 2 {
		t.Fatalf("with a queued message: %d handled, %d scheduled, %d counted; want 2, 1, 2", got, d.pending(), mb.UserMessageCount())
	}
	d.runAll()
	want := []int{1, 2, 3, 4}
	var got []int
	for _, m := range r.users() {
		switch m := actor.UnwrapEnvelopeMessage(m).(type) {
		case *inlineMsg:
			got = append(got, m.n)
		case *queuedMsg:
			got = append(got, m.n)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
	if mb.UserMessageCount() != 0 {
		t.Fatalf("UserMessageCount = %d after draining", mb.UserMessageCount())
	}
}

// TestMailboxInlineBudget checks that a poster processes at most
// InlineBudget messages and leaves the rest, in order, to the dispatcher.
func TestMailboxInlineBudget(t *testing.T) {
	const extra = 3 * dispatch.InlineBudget
	d := &manualDispatcher{}
	var mb actor.Mailbox
	r := &recorder{}
	r.onUser = func(msg any) {
		if _, ok := msg.(*inlineMsg); ok {
			for i := range extra {
				mb.PostUserMessage(&queuedMsg{i}) // the mailbox is busy: queued
			}
		}
	}
	mb = newMailbox(r, d)
	mb.PostUserMessage(&inlineMsg{})
	if got := len(r.users()); got != dispatch.InlineBudget {
		t.Fatalf("the poster handled %d messages, want InlineBudget (%d)", got, dispatch.InlineBudget)
	}
	if d.pending() != 1 {
		t.Fatalf("%d functions scheduled, want 1", d.pending())
	}
	d.runAll()
	users := r.users()
	if len(users) != extra+1 {
		t.Fatalf("handled %d messages, want %d", len(users), extra+1)
	}
	for i, m := range users[1:] {
		if q, ok := m.(*queuedMsg); !ok || q.n != i {
			t.Fatalf("message %d is %v, want queuedMsg{%d}", i+1, m, i)
		}
	}
}

// TestMailboxSystemMessages checks that system messages come first and
// that a suspended mailbox handles only system messages until resumed.
func TestMailboxSystemMessages(t *testing.T) {
	r, d := &recorder{}, &manualDispatcher{}
	mb := newMailbox(r, d)
	stop := &actor.Stop{}
	mb.PostSystemMessage(&actor.SuspendMailbox{})
	mb.PostUserMessage(&queuedMsg{1})
	mb.PostSystemMessage(stop)
	mb.PostUserMessage(&inlineMsg{2}) // busy: not inline
	d.runAll()
	if len(r.users()) != 0 || len(r.sys) != 1 || r.sys[0] != stop {
		t.Fatalf("suspended: handled user %v, system %v; want none, [Stop]", r.users(), r.sys)
	}
	mb.PostUserMessage(&inlineMsg{3}) // suspended and idle: queued, not handled
	if len(r.users()) != 0 {
		t.Fatalf("a suspended mailbox handled %v", r.users())
	}
	mb.PostSystemMessage(&actor.ResumeMailbox{})
	d.runAll()
	if got := len(r.users()); got != 3 {
		t.Fatalf("after resume: handled %d user messages, want 3", got)
	}
}

// TestMailboxPanic checks that a handler's panic is escalated with the
// message, on the poster's goroutine for an inline message, and that the
// mailbox keeps working.
func TestMailboxPanic(t *testing.T) {
	d := &manualDispatcher{}
	r := &recorder{}
	r.onUser = func(msg any) {
		if m, ok := msg.(*inlineMsg); ok && m.n == 1 {
			panic("boom")
		}
	}
	mb := newMailbox(r, d)
	bad := &inlineMsg{1}
	mb.PostUserMessage(bad)
	if len(r.escalated) != 2 || r.escalated[0] != "boom" || r.escalated[1] != bad {
		t.Fatalf("escalated %v, want [boom, the message]", r.escalated)
	}
	mb.PostUserMessage(&inlineMsg{2})
	if got := len(r.users()); got != 2 {
		t.Fatalf("handled %d messages, want 2", got)
	}
}

// TestMailboxConcurrent posts from many goroutines at once, inline and
// queued, on a real dispatcher: every message is handled exactly once,
// never two at a time, and each poster's messages in the order it posted
// them.
func TestMailboxConcurrent(t *testing.T) {
	const posters, each = 8, 500
	d := dispatch.NewWarm()
	defer d.Close()
	r := &recorder{}
	var wg sync.WaitGroup
	var handled sync.WaitGroup
	handled.Add(posters * each)
	r.onUser = func(any) { handled.Done() }
	mb := newMailbox(r, d)
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := p*each + i
				if i%2 == 0 {
					mb.PostUserMessage(&inlineMsg{n})
				} else {
					mb.PostUserMessage(&queuedMsg{n})
				}
			}
		}()
	}
	wg.Wait()
	handled.Wait()
	if r.overlap.Load() {
		t.Fatal("two messages were handled at once")
	}
	last := make([]int, posters)
	for i := range last {
		last[i] = -1
	}
	for _, m := range r.users() {
		var n int
		switch m := m.(type) {
		case *inlineMsg:
			n = m.n
		case *queuedMsg:
			n = m.n
		default:
			t.Fatalf("unexpected message %v", m)
		}
		p, i := n/each, n%each
		if i <= last[p] {
			t.Fatalf("poster %d: message %d handled after %d", p, i, last[p])
		}
		last[p] = i
	}
	for p, l := range last {
		if l != each-1 {
			t.Fatalf("poster %d: last message handled %d, want %d", p, l, each-1)
		}
	}
	if got := mb.UserMessageCount(); got != 0 {
		t.Fatalf("UserMessageCount = %d after all were handled", got)
	}
}

// TestMailboxPingPong posts each message as soon as the previous one was
// handled, so posts keep landing while the dispatcher's goroutine is
// finishing with the mailbox: none may be left unhandled.
func TestMailboxPingPong(t *testing.T) {
	const rounds = 20000
	d := dispatch.NewWarm()
	defer d.Close()
	handled := make(chan struct{}, 1)
	r := &recorder{onUser: func(any) { handled <- struct{}{} }}
	mb := newMailbox(r, d)
	deadline := time.After(10 * time.Second)
	for i := range rounds {
		var msg any = &queuedMsg{i}
		if i%3 == 0 {
			msg = &inlineMsg{i}
		}
		mb.PostUserMessage(msg)
		select {
		case <-handled:
		case <-deadline:
			t.Fatalf("message %d of %d was never handled", i, rounds)
		}
	}
}
