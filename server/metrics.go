package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// metrics are the server's Prometheus collectors.
//
//	mobd_http_requests_total{route,status}      requests by mux pattern and status
//	mobd_sse_subscribers                        open event streams
//	mobd_turns_total{source}                    turns answered (flow, member, session)
//	mobd_tokens_total{source,kind}              tokens of those turns (input, output)
//	mobd_active_runs                            flow runs not ended, over the served mobs
//	mobd_mobs                                   served mobs
//	mobd_runtimes_running                       runtimes of the pool that are running
//	mobd_step_duration_seconds{flow,outcome}    step_dispatched → step_completed/failed
//
// and, read from the actors at each scrape (see mailboxCollector):
//
//	mobd_member_pending_asks{mob,member}        asks a member accepted and has not answered
//	mobd_session_queued_turns{runtime}          turns waiting in session mailboxes, by runtime
//	mobd_session_running_turns{runtime}         sessions with a turn in flight, by runtime
//	mobd_session_mailbox_depth_max              the deepest session mailbox (queued + running)
//	mobd_mailbox_probe_failures{kind}           actors that did not answer the scrape in time
type metrics struct {
	requests    *prometheus.CounterVec
	subscribers prometheus.Gauge
	turns       *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	steps       *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry, s *Server) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mobd_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mobd_sse_subscribers", Help: "Open Server-Sent Events streams of /v1/events.",
		}),
		turns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mobd_turns_total", Help: "Turns answered, by source (flow, member, session).",
		}, []string{"source"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mobd_tokens_total", Help: "Tokens used by answered turns, by source and kind (input, output).",
		}, []string{"source", "kind"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mobd_step_duration_seconds", Help: "Flow step latency from dispatch to completion or failure.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"flow", "outcome"}),
	}
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mobd_active_runs", Help: "Flow runs that have not ended, over the served mobs.",
	}, func() float64 {
		n := 0
		for _, mb := range s.allMobs() {
			for _, r := range mb.Runs() {
				if !r.Status().Status.Terminal() {
					n++
				}
			}
		}
		return float64(n)
	})
	mobs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mobd_mobs", Help: "Mobs served.",
	}, func() float64 { return float64(len(s.Mobs())) })
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mobd_runtimes_running", Help: "Runtimes of the pool that are running.",
	}, func() float64 {
		n := 0
		for _, r := range s.cfg.Engine.Runtimes() {
			if r.State == "running" {
				n++
			}
		}
		return float64(n)
	})
	mailboxes := newMailboxCollector(s.cfg.Engine, s.log.Named("metrics"), mailboxProbeTimeout)
	for _, c := range []prometheus.Collector{m.requests, m.subscribers, m.turns, m.tokens, m.steps, active, mobs, running, mailboxes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return m, nil
}

// observeTurn counts an answered turn and its tokens.
func (m *metrics) observeTurn(source string, u rpc.Usage) {
	m.turns.WithLabelValues(source).Inc()
	m.tokens.WithLabelValues(source, "input").Add(float64(u.InputTokens))
	m.tokens.WithLabelValues(source, "output").Add(float64(u.OutputTokens))
}

// tail follows the journal from its current end and derives the flow
// metrics from the events: turns and tokens of step targets, and step
// latencies from step_dispatched to step_completed or step_failed. It
// returns when ctx ends or the journal closes.
func (m *metrics) tail(ctx context.Context, j *journal.Store) {
	after := j.LastSeq()
	dispatched := map[string]*mob.Event{}
	kinds := []string{mob.EventStepDispatched, mob.EventStepCompleted, mob.EventStepFailed,
		mob.EventStepTargetCompleted, mob.EventFlowCompleted, mob.EventFlowFailed, mob.EventFlowCanceled}
	for {
		wake := j.Notify()
		recs, err := j.Read(ctx, journal.Query{After: after, Kinds: kinds, Limit: eventBatch})
		if err != nil {
			return
		}
		for _, rec := range recs {
			after = rec.Seq
			ev, err := mob.DecodeEvent(rec)
			if err != nil {
				continue
			}
			key := ev.Mob + "\x00" + ev.Run + "\x00" + ev.Frame + "\x00" + ev.Step
			switch ev.Type {
			case mob.EventStepDispatched:
				if _, ok := dispatched[key]; !ok {
					dispatched[key] = &ev
				}
			case mob.EventStepCompleted, mob.EventStepFailed:
				if d := dispatched[key]; d != nil {
					outcome := "completed"
					if ev.Type == mob.EventStepFailed {
						outcome = "failed"
					}
					m.steps.WithLabelValues(d.Flow, outcome).Observe(ev.At.Sub(d.At).Seconds())
					delete(dispatched, key)
				}
			case mob.EventStepTargetCompleted:
				var u rpc.Usage
				if ev.Usage != nil {
					u = *ev.Usage
				}
				m.observeTurn("flow", u)
			default: // the run ended: forget its steps still in flight
				for k, d := range dispatched {
					if d.Mob == ev.Mob && d.Run == ev.Run {
						delete(dispatched, k)
					}
				}
			}
		}
		if len(recs) == eventBatch {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
	}
}

// mailboxProbeTimeout bounds the actor requests of one scrape of the
// mailbox metrics.
const mailboxProbeTimeout = 2 * time.Second

// mailboxProbes bounds the actor requests of a scrape in flight at once.
const mailboxProbes = 16

// mailboxCollector reports the depth of the engine's mailboxes when
// scraped: every member actor is asked for its state (asks pending) and
// every session actor for its snapshot (turns queued, turn running).
// Sessions are summed per runtime rather than labelled one by one, which
// would give a series per session; GET /v1/sessions shows each session's
// queue. An actor that does not answer within the probe timeout is left
// out and counted in mobd_mailbox_probe_failures: a busy actor still
// answers (turns run outside the actor), so failures point at a stuck or
// dying actor.
type mailboxCollector struct {
	engine  *actors.Engine
	log     *zap.Logger
	timeout time.Duration

	pending, queued, running, depthMax, failures *prometheus.Desc
}

func newMailboxCollector(e *actors.Engine, log *zap.Logger, timeout time.Duration) *mailboxCollector {
	return &mailboxCollector{
		engine: e, log: log, timeout: timeout,
		pending: prometheus.NewDesc("mobd_member_pending_asks",
			"Asks a mob member accepted and has not answered yet (its mailbox depth).", []string{"mob", "member"}, nil),
		queued: prometheus.NewDesc("mobd_session_queued_turns",
			"Turns waiting in the mailboxes of the sessions placed on a runtime.", []string{"runtime"}, nil),
		running: prometheus.NewDesc("mobd_session_running_turns",
			"Sessions placed on a runtime with a turn in flight.", []string{"runtime"}, nil),
		depthMax: prometheus.NewDesc("mobd_session_mailbox_depth_max",
			"Turns accepted and not finished (queued plus running) by the busiest session.", nil, nil),
		failures: prometheus.NewDesc("mobd_mailbox_probe_failures",
			"Actors that did not answer this scrape's mailbox probe in time, by kind (session, member).", []string{"kind"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *mailboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.queued, c.running, c.depthMax, c.failures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it probes every member and
// session actor, a few at a time, and waits for all of them (or the
// timeout).
func (c *mailboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	queued, running := map[string]int{}, map[string]int{}
	for _, rt := range c.engine.Runtimes() {
		queued[rt.Name], running[rt.Name] = 0, 0
	}
	var (
		mu        sync.Mutex
		depthMax  int
		failed    = map[string]int{"session": 0, "member": 0}
		wg        sync.WaitGroup
		sem       = make(chan struct{}, mailboxProbes)
		probeFail = func(kind, id string, err error) {
			mu.Lock()
			failed[kind]++
			mu.Unlock()
			c.log.Debug("mailbox probe failed", zap.String("kind", kind), zap.String("id", id), zap.Error(err))
		}
	)
	probe := func(f func()) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f()
		}()
	}
	for id, ref := range c.engine.Sessions() {
		probe(func() {
			info, err := ref.Info(ctx)
			if err != nil {
				probeFail("session", id, err)
				return
			}
			depth := info.Queued
			if info.Running {
				depth++
			}
			mu.Lock()
			defer mu.Unlock()
			queued[info.Runtime] += info.Queued
			if info.Running {
				running[info.Runtime]++
			}
			depthMax = max(depthMax, depth)
		})
	}
	for _, id := range c.engine.Members() {
		ref := c.engine.Member(id)
		if ref == nil {
			continue // retired meanwhile
		}
		probe(func() {
			st, err := ref.State(ctx)
			if err != nil {
				probeFail("member", id, err)
				return
			}
			// Mob members are named "<mob>/<member>" in the engine.
			mobID, member, ok := strings.Cut(id, "/")
			if !ok {
				mobID, member = "", id
			}
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending), mobID, member)
		})
	}
	wg.Wait()
	for rt, n := range queued {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(n), rt)
	}
	for rt, n := range running {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(n), rt)
	}
	ch <- prometheus.MustNewConstMetric(c.depthMax, prometheus.GaugeValue, float64(depthMax))
	for kind, n := range failed {
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(n), kind)
	}
}
