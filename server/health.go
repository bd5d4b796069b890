package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mobd-dev/mobd/actors"
)

// Readiness is the body of /readyz.
type Readiness struct {
	Ready    bool   `json:"ready"`
	Journal  string `json:"journal"`
	Runtimes string `json:"runtimes"`
}

// RuntimeInfo is one runtime of the pool in GET /v1/runtimes.
type RuntimeInfo struct {
	Name          string  `json:"name"`
	State         string  `json:"state"`
	PID           int     `json:"pid"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Restarts      int     `json:"restarts"`
	Generation    uint64  `json:"generation"`
	Sessions      int     `json:"sessions"`
	LastError     string  `json:"last_error,omitempty"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers 200 when the journal takes writes and at least one
// runtime is running with the pool not given up, else 503.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	rd := Readiness{Journal: "ok", Runtimes: "ok"}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Journal.Sync(ctx); err != nil {
		rd.Journal = err.Error()
	}
	if err := s.cfg.Engine.Err(); err != nil {
		rd.Runtimes = err.Error()
	} else if !anyRunning(s.cfg.Engine.Runtimes()) {
		rd.Runtimes = "no runtime running"
	}
	select {
	case <-s.drain:
		rd.Runtimes = "shutting down"
	default:
	}
	rd.Ready = rd.Journal == "ok" && rd.Runtimes == "ok"
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	s.writeJSON(w, status, rd)
}

func anyRunning(rs []actors.RuntimeStatus) bool {
	for _, r := range rs {
		if r.State == "running" {
			return true
		}
	}
	return false
}

func (s *Server) handleRuntimes(w http.ResponseWriter, r *http.Request) {
	out := []RuntimeInfo{}
	for _, rt := range s.cfg.Engine.Runtimes() {
		ri := RuntimeInfo{Name: rt.Name, State: rt.State, PID: rt.PID, UptimeSeconds: rt.Uptime.Seconds(),
			Restarts: rt.Restarts, Generation: rt.Generation, Sessions: rt.Sessions}
		if rt.LastError != nil {
			ri.LastError = rt.LastError.Error()
		}
		out = append(out, ri)
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
