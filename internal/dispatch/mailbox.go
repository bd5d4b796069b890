package dispatch

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// InlineBudget is the number of messages a mailbox processes on the
// goroutine of a poster (see Mailbox) before it hands the rest to its
// dispatcher.
const InlineBudget = 16

// Mailbox returns a protoactor mailbox producer. Its mailboxes work as
// protoactor's default mailbox does (system messages first, suspension,
// the dispatcher's throughput), with one difference: a user message for
// which inline reports true, posted while the mailbox is idle, is processed
// at once on the goroutine that posts it, instead of on a goroutine of the
// dispatcher. That saves the hand-off to another goroutine (a wake-up of
// another thread, often tens of microseconds) on a path where the poster
// would only wait: an actor asking another, which asks a third, which
// writes to a runtime.
//
// The poster runs the actor's handler, so inline must report true only for
// messages whose posters may run it: never for a message posted by a
// goroutine that must not block (such as a connection's reader) or that
// holds a lock the handler may take. A mailbox that is busy, or holds more
// than the posted message, still processes in order: the poster first
// processes what was queued before its message, up to InlineBudget messages
// in all, and hands whatever remains to the dispatcher.
func Mailbox(inline func(msg any) bool) actor.MailboxProducer {
	return func() actor.Mailbox { return &mailbox{inline: inline} }
}

// Mailbox states.
const (
	idle int32 = iota
	running
)

type mailbox struct {
	inline     func(msg any) bool
	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	status     atomic.Int32
	suspended  atomic.Bool

	mu   sync.Mutex
	sys  fifo
	user fifo
}

// PostUserMessage implements actor.Mailbox.
func (m *mailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	m.user.push(msg)
	m.mu.Unlock()
	if m.inline(actor.UnwrapEnvelopeMessage(msg)) && m.status.CompareAndSwap(idle, running) {
		m.runInline()
		return
	}
	m.schedule()
}

// PostSystemMessage implements actor.Mailbox.
func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.sys.push(msg)
	m.mu.Unlock()
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox.
func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
}

// Start implements actor.Mailbox.
func (m *mailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.user.n
}

func (m *mailbox) schedule() {
	if m.status.CompareAndSwap(idle, running) {
		m.dispatcher.Schedule(m.process)
	}
}

// process runs on the dispatcher until the mailbox is empty (or suspended
// with no system message).
func (m *mailbox) process() {
	for {
		m.run(-1)
		if !m.settle() {
			return
		}
	}
}

// runInline processes up to InlineBudget messages on the poster's
// goroutine and leaves the rest to the dispatcher.
func (m *mailbox) runInline() {
	// Stopped by the budget, or taken back for messages posted meanwhile:
	// the mailbox goes on running, on the dispatcher.
	if m.run(InlineBudget) || m.settle() {
		m.dispatcher.Schedule(m.process)
	}
}

// settle marks the mailbox idle and reports whether the caller took it back
// to process messages posted meanwhile.
func (m *mailbox) settle() bool {
	m.status.Store(idle)
	return m.hasWork() && m.status.CompareAndSwap(idle, running)
}

// hasWork reports whether the mailbox holds a message it may process now.
func (m *mailbox) hasWork() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sys.n > 0 || (!m.suspended.Load() && m.user.n > 0)
}

// run processes messages, system messages first, until there are none it
// may process, or budget messages when budget >= 0; it reports whether it
// stopped for the budget with messages left.
func (m *mailbox) run(budget int) (more bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	throughput := m.dispatcher.Throughput()
	for i := 0; ; i++ {
		if budget >= 0 && i >= budget {
			return m.hasWork()
		}
		if budget < 0 && i > 0 && i%throughput == 0 {
			runtime.Gosched()
		}
		m.mu.Lock()
		msg = m.sys.pop()
		m.mu.Unlock()
		if msg != nil {
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return false
		}
		m.mu.Lock()
		msg = m.user.pop()
		m.mu.Unlock()
		if msg == nil {
			return false
		}
		m.invoker.InvokeUserMessage(msg)
	}
}

// fifo is a growable ring buffer of messages.
type fifo struct {
	buf  []any
	head int
	n    int
}

func (q *fifo) push(v any) {
	if q.n == len(q.buf) {
		grown := make([]any, max(8, 2*len(q.buf)))
		for i := range q.n {
			grown[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
}

func (q *fifo) pop() any {
	if q.n == 0 {
		return nil
	}
	v := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return v
}
