package mob

import (
	"sync"
	"time"
)

// dispatcher runs a mob's run actors' mailboxes on goroutines it keeps
// warm between messages. protoactor's default dispatcher starts a
// goroutine for every burst of messages; a run actor's handler is deep
// (the flow plan, templates, the journal's encoding), so each fresh
// goroutine grows its stack several times over, and at a flow step's pace
// that growth costs as much as the handler. A warm goroutine keeps the
// stack it grew.
//
// Schedule hands the mailbox to an idle worker if there is one and starts
// a worker otherwise, so a busy mob gets as many goroutines as the default
// dispatcher would give it. A worker left idle for idleTimeout exits, and
// close makes every idle worker exit at once (Mob.Close calls it when its
// run actors have stopped).
type dispatcher struct {
	work chan func()

	mu     sync.Mutex // guards closed and the workers' wg.Add
	closed bool
	stop   chan struct{} // closed by close
	wg     sync.WaitGroup
}

const (
	// dispatchThroughput is the number of messages a mailbox processes
	// before it yields, as protoactor's default.
	dispatchThroughput = 300
	// idleTimeout is how long a worker waits for more work before it
	// exits.
	idleTimeout = 2 * time.Second
)

func newDispatcher() *dispatcher {
	return &dispatcher{work: make(chan func()), stop: make(chan struct{})}
}

// Schedule implements actor.Dispatcher.
func (d *dispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
		return
	default:
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		go fn() // after close: as the default dispatcher does
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go d.worker(fn)
}

// Throughput implements actor.Dispatcher.
func (d *dispatcher) Throughput() int { return dispatchThroughput }

func (d *dispatcher) worker(fn func()) {
	defer d.wg.Done()
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	for {
		fn()
		idle.Reset(idleTimeout)
		select {
		case fn = <-d.work:
		case <-idle.C:
			return
		case <-d.stop:
			return
		}
	}
}

// close makes the idle workers exit and waits for every worker. A mailbox
// scheduled later runs on a goroutine of its own.
func (d *dispatcher) close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
	d.mu.Unlock()
	d.wg.Wait()
}
