package actors

import (
	"context"
	"fmt"
	"sync"
)

// place picks the runtime for a new session: among the runtimes the pool
// has not given up on and that host fewer than MaxSessionsPerRuntime
// sessions, a running one before one that is restarting, then the least
// loaded, then the first. The chosen runtime's count is taken at once.
func (e *Engine) place() (*runtimeSlot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.poolErr != nil {
		return nil, e.unavailable()
	}
	var best *runtimeSlot
	bestUp := false
	for _, s := range e.slots {
		if s.hosted >= e.cfg.MaxSessionsPerRuntime {
			continue
		}
		up := s.isUp()
		switch {
		case best == nil,
			up && !bestUp,
			up == bestUp && s.hosted < best.hosted:
			best, bestUp = s, up
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: every runtime hosts %d sessions (MaxSessionsPerRuntime)", ErrOverloaded, e.cfg.MaxSessionsPerRuntime)
	}
	best.hosted++
	return best, nil
}

// unplace returns a session's place on its runtime.
func (e *Engine) unplace(s *runtimeSlot) {
	e.mu.Lock()
	s.hosted--
	e.mu.Unlock()
}

// limiter enforces Config.ModelLimits: one counting semaphore per key.
type limiter struct {
	sems map[string]chan struct{}
}

func newLimiter(limits map[string]int) *limiter {
	l := &limiter{sems: make(map[string]chan struct{}, len(limits))}
	for k, n := range limits {
		l.sems[k] = make(chan struct{}, n)
	}
	return l
}

// keys returns the limit keys a turn for provider and model takes, in the
// fixed order "*", provider, model, provider/model (a fixed order keeps
// turns that take several from deadlocking each other).
func (l *limiter) keys(provider, model string) []string {
	if len(l.sems) == 0 {
		return nil
	}
	var out []string
	add := func(k string) {
		if _, ok := l.sems[k]; ok {
			out = append(out, k)
		}
	}
	add("*")
	if provider != "" {
		add(provider)
	}
	if model != "" && model != provider {
		add(model)
	}
	if provider != "" && model != "" {
		add(provider + "/" + model)
	}
	return out
}

// tryAcquire takes a slot of every key if all are free at once, without
// waiting; ok is false (and nothing is taken) otherwise.
func (l *limiter) tryAcquire(keys []string) (release func(), ok bool) {
	return l.take(keys, func(sem chan struct{}) bool {
		select {
		case sem <- struct{}{}:
			return true
		default:
			return false
		}
	})
}

// acquire takes a slot of every key, waiting until ctx is done. The
// returned release gives them back.
func (l *limiter) acquire(ctx context.Context, keys []string) (release func(), err error) {
	release, ok := l.take(keys, func(sem chan struct{}) bool {
		select {
		case sem <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	})
	if !ok {
		return nil, ctx.Err()
	}
	return release, nil
}

// take takes a slot of every key in turn with put, which reports whether
// it got the slot; when put fails, the slots taken are given back.
func (l *limiter) take(keys []string, put func(sem chan struct{}) bool) (release func(), ok bool) {
	taken := 0
	release = func() {
		for _, k := range keys[:taken] {
			<-l.sems[k]
		}
	}
	for _, k := range keys {
		if !put(l.sems[k]) {
			release()
			return nil, false
		}
		taken++
	}
	return release, true
}

// tracker counts the requests the engine accepted and has not answered,
// so Shutdown can wait for them.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; replaced when it rises
}

func newTracker() *tracker {
	t := &tracker{idle: make(chan struct{})}
	close(t.idle)
	return t
}

func (t *tracker) add() {
	t.mu.Lock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
}

// done ends an outstanding operation; it reports whether none is left.
func (t *tracker) done() (idle bool) {
	t.mu.Lock()
	t.n--
	if idle = t.n == 0; idle {
		close(t.idle)
	}
	t.mu.Unlock()
	return idle
}

// wait returns when nothing is outstanding or ctx is done.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, idle := t.n, t.idle
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
