package server

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// Defaults for the zero fields of a Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultHeartbeat    = 15 * time.Second
	DefaultTurnTimeout  = 10 * time.Minute
)

// Config configures a Server. Engine and Journal are required; the zero
// values of the other fields take the documented defaults.
type Config struct {
	// Engine hosts the members and the sessions of the API.
	Engine *actors.Engine
	// Journal is the event journal every mob shares; /v1/events reads it.
	Journal *journal.Store
	// Mob is the template of every mob's configuration; its Host and
	// Journal default to EngineHost(Engine) and Journal, its Logger to
	// Logger.
	Mob mob.Config
	// Realm reads and archives sessions of the runtimes' realm for the
	// session history and archive routes; nil makes those routes answer
	// 501.
	Realm Realm
	// Logger receives the server's logs; nil means none.
	Logger *zap.Logger
	// Token, when set, is the bearer token every request but /healthz and
	// /readyz must carry. It is compared in constant time and never logged.
	Token string
	// MaxBodyBytes bounds request bodies; a larger one is refused with 413.
	// Default 1 MiB.
	MaxBodyBytes int64
	// Heartbeat is the interval of SSE comment lines that keep idle event
	// streams alive through proxies. Default 15 s.
	Heartbeat time.Duration
	// TurnTimeout bounds a synchronous turn or member message. Default 10 min.
	TurnTimeout time.Duration
	// Registry receives the server's metrics and is what /metrics serves;
	// nil means a fresh registry.
	Registry *prometheus.Registry
}

// Server is the HTTP API over a set of mobs, an engine and a journal.
// Create it with New, serve Handler, and Close it after the HTTP server
// has shut down. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *zap.Logger
	maxBody int64
	routes  []route
	handler http.Handler
	metrics *metrics
	events  eventCache // encodings of recent journal records, shared by the event streams

	mu       sync.Mutex
	mobs     map[string]*mob.Mob
	createMu sync.Mutex // serialises mob creation

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain: event streams end

	tailCancel context.CancelFunc
	tailDone   chan struct{}
}

// New returns a server for cfg serving mobs (already created or recovered
// over cfg.Journal), and starts its metrics tailer.
func New(cfg Config, mobs ...*mob.Mob) (*Server, error) {
	if cfg.Engine == nil || cfg.Journal == nil {
		return nil, errors.New("server: Config.Engine and Config.Journal are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.TurnTimeout <= 0 {
		cfg.TurnTimeout = DefaultTurnTimeout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Mob.Host == nil {
		cfg.Mob.Host = mob.EngineHost(cfg.Engine)
	}
	if cfg.Mob.Journal == nil {
		cfg.Mob.Journal = cfg.Journal
	}
	if cfg.Mob.Logger == nil {
		cfg.Mob.Logger = cfg.Logger.Named("mob")
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, maxBody: cfg.MaxBodyBytes,
		mobs: make(map[string]*mob.Mob), drain: make(chan struct{}),
	}
	for _, m := range mobs {
		s.mobs[m.ID()] = m
	}
	m, err := newMetrics(cfg.Registry, s)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.routes = s.routeTable()
	s.handler = s.buildHandler()
	ctx, cancel := context.WithCancel(context.Background())
	s.tailCancel, s.tailDone = cancel, make(chan struct{})
	go func() {
		defer close(s.tailDone)
		s.metrics.tail(ctx, cfg.Journal)
	}()
	return s, nil
}

// Handler returns the server's HTTP handler: the /v1 API, /healthz,
// /readyz and /metrics, behind the auth, request-id, logging and metrics
// middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain ends every open event stream (and refuses new ones): call it when
// the HTTP server starts shutting down, as streams never go idle on their
// own. It is idempotent.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.drain) }) }

// Close drains the event streams, stops the metrics tailer and closes every
// mob (their active runs stay resumable in the journal). It does not stop
// the engine or close the journal. It is idempotent.
func (s *Server) Close() {
	s.Drain()
	s.tailCancel()
	<-s.tailDone
	s.mu.Lock()
	mobs := slices.Collect(maps.Values(s.mobs))
	s.mobs = map[string]*mob.Mob{}
	s.mu.Unlock()
	for _, m := range mobs {
		m.Close()
	}
}

// Mobs returns the ids of the served mobs, sorted.
func (s *Server) Mobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.mobs))
	for id := range s.mobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// mob returns the served mob with id, or a 404.
func (s *Server) mob(id string) (*mob.Mob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.mobs[id]; m != nil {
		return m, nil
	}
	return nil, apiErr(http.StatusNotFound, CodeMobNotFound, "mob %q not found", id)
}

func (s *Server) allMobs() []*mob.Mob {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.mobs))
	slices.SortFunc(out, func(a, b *mob.Mob) int { return strings.Compare(a.ID(), b.ID()) })
	return out
}
