package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

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
//	mobd_step_duration_seconds{flow}            step_dispatched → step_completed/failed
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
	for _, c := range []prometheus.Collector{m.requests, m.subscribers, m.turns, m.tokens, m.steps, active, mobs, running} {
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
			var ev mob.Event
			if json.Unmarshal(rec.Data, &ev) != nil {
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
