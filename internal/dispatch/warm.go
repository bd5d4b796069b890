// Package dispatch provides Warm, a protoactor dispatcher that runs
// mailboxes on goroutines it keeps between messages, and Mailbox, a
// mailbox that runs chosen messages on the goroutine that posts them.
//
// protoactor's default dispatcher starts a goroutine for every burst of
// messages a mailbox gets. The engine's actors have deep handlers (a
// member's ask, a session's turn bookkeeping, a flow run's plan, templates
// and journal encoding), so every fresh goroutine grows its stack several
// times over, and at one message per turn that growth, and starting the
// goroutine, cost as much as the handler. A warm goroutine keeps the stack
// it grew. The actors and mob packages run their per-turn actors on it.
package dispatch

import (
	"sync"
	"time"
)

// Warm is an actor.Dispatcher that runs each scheduled mailbox on an idle
// goroutine of its own if there is one and on a new goroutine otherwise, so
// a busy system gets as many goroutines as protoactor's default dispatcher
// would give it, and a mailbox never waits for another one. A goroutine
// left idle for IdleTimeout exits. Close makes the idle goroutines exit at
// once and waits for the busy ones; a mailbox scheduled after Close runs on
// a goroutine of its own, as with the default dispatcher.
//
// Create it with NewWarm; its methods are safe for concurrent use.
type Warm struct {
	work chan func()

	mu     sync.Mutex // guards closed and the workers' wg.Add
	closed bool
	stop   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

const (
	// Throughput is the number of messages a mailbox processes before it
	// yields, as protoactor's default.
	Throughput = 300
	// IdleTimeout is how long a goroutine waits for more work before it
	// exits.
	IdleTimeout = 2 * time.Second
)

// NewWarm returns a Warm dispatcher with no goroutines yet.
func NewWarm() *Warm {
	return &Warm{work: make(chan func()), stop: make(chan struct{})}
}

// Schedule implements actor.Dispatcher: it runs fn on an idle goroutine,
// or on a new one when none is idle.
func (d *Warm) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		go fn()
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go d.worker(fn)
}

// Throughput implements actor.Dispatcher.
func (d *Warm) Throughput() int { return Throughput }

func (d *Warm) worker(fn func()) {
	defer d.wg.Done()
	idle := time.NewTimer(IdleTimeout)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(IdleTimeout)
		select {
		case fn = <-d.work:
		case <-idle.C:
			return
		case <-d.stop:
			return
		}
	}
}

// Close makes the idle goroutines exit and waits until every goroutine the
// dispatcher started has returned. Call it once the actors that use it have
// stopped; it is idempotent.
func (d *Warm) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
	d.mu.Unlock()
	d.wg.Wait()
}
