package supervision

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics turns supervision events into Prometheus metrics. Create it with
// [NewMetrics], register it once, and pass its Hook (alone or through
// [MultiHook]) to every supervisor whose children it should count.
//
// Exposed series:
//
//	mobd_supervision_events_total{supervisor,child,event}   every transition, by EventType name
//	mobd_supervision_restarts_total{supervisor,child}       completed restarts
//	mobd_supervision_backoff_seconds{supervisor}            delays before restarts
//	mobd_supervision_child_uptime_seconds{supervisor}       how long children ran before crashing
type Metrics struct {
	events   *prometheus.CounterVec
	restarts *prometheus.CounterVec
	backoff  *prometheus.HistogramVec
	uptime   *prometheus.HistogramVec
}

// NewMetrics creates the collectors; nothing is registered yet.
func NewMetrics() *Metrics {
	return &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mobd", Subsystem: "supervision", Name: "events_total",
			Help: "Supervision transitions (started, crashed, backoff, restarted, gave_up, escalated, probe_failed, stopped).",
		}, []string{"supervisor", "child", "event"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mobd", Subsystem: "supervision", Name: "restarts_total",
			Help: "Children restarted by their supervisor.",
		}, []string{"supervisor", "child"}),
		backoff: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mobd", Subsystem: "supervision", Name: "backoff_seconds",
			Help:    "Delay before a child's restart.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 13),
		}, []string{"supervisor"}),
		uptime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "mobd", Subsystem: "supervision", Name: "child_uptime_seconds",
			Help:    "How long a child ran before it crashed.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10),
		}, []string{"supervisor"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.events.Describe(ch)
	m.restarts.Describe(ch)
	m.backoff.Describe(ch)
	m.uptime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.events.Collect(ch)
	m.restarts.Collect(ch)
	m.backoff.Collect(ch)
	m.uptime.Collect(ch)
}

// Hook returns the [EventHook] that records events. It is safe for
// concurrent use by many supervisors.
func (m *Metrics) Hook() EventHook {
	return func(ev Event) {
		info := ev.Info()
		m.events.WithLabelValues(info.Supervisor, info.Child, ev.Type().String()).Inc()
		switch e := ev.(type) {
		case EventRestarted:
			m.restarts.WithLabelValues(info.Supervisor, info.Child).Inc()
		case EventBackoff:
			m.backoff.WithLabelValues(info.Supervisor).Observe(e.Delay.Seconds())
		case EventCrashed:
			m.uptime.WithLabelValues(info.Supervisor).Observe(e.Uptime.Seconds())
		}
	}
}
