package supervision_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/supervision"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsHook(t *testing.T) {
	m := supervision.NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	info := supervision.EventInfo{Supervisor: "pool", Child: "runtime-0"}
	hook := m.Hook()
	hook(supervision.EventStarted{EventInfo: info})
	hook(supervision.EventCrashed{EventInfo: info, Uptime: 3 * time.Second})
	hook(supervision.EventBackoff{EventInfo: info, Attempt: 1, Delay: 100 * time.Millisecond})
	hook(supervision.EventRestarted{EventInfo: info, Attempt: 1, Restarts: 1})
	hook(supervision.EventStarted{EventInfo: info, Attempt: 1})

	want := `
# HELP mobd_supervision_events_total Supervision transitions (started, crashed, backoff, restarted, gave_up, escalated, probe_failed, stopped).
# TYPE mobd_supervision_events_total counter
mobd_supervision_events_total{child="runtime-0",event="backoff",supervisor="pool"} 1
mobd_supervision_events_total{child="runtime-0",event="crashed",supervisor="pool"} 1
mobd_supervision_events_total{child="runtime-0",event="restarted",supervisor="pool"} 1
mobd_supervision_events_total{child="runtime-0",event="started",supervisor="pool"} 2
# HELP mobd_supervision_restarts_total Children restarted by their supervisor.
# TYPE mobd_supervision_restarts_total counter
mobd_supervision_restarts_total{child="runtime-0",supervisor="pool"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mobd_supervision_events_total", "mobd_supervision_restarts_total"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m, "mobd_supervision_backoff_seconds", "mobd_supervision_child_uptime_seconds"); n != 2 {
		t.Fatalf("histogram series = %d, want 2", n)
	}
}
