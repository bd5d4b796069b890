package actors

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/supervision"
)

// Defaults applied to the zero fields of a [Config].
const (
	DefaultPoolSize              = 2
	DefaultRealmID               = "mobd"
	DefaultRealmBackend          = "jsonl"
	DefaultMaxSessionsPerRuntime = 1000
	DefaultSessionQueue          = 64
	DefaultMemberQueue           = 64
	DefaultStreamBuffer          = 4096
	DefaultCloseTimeout          = 5 * time.Second
	DefaultStartTimeout          = 15 * time.Second
	DefaultProbeInterval         = 5 * time.Second
	DefaultProbeTimeout          = 3 * time.Second
	DefaultProbeFailures         = 2
	DefaultBackoffBase           = 10 * time.Millisecond
	DefaultBackoffMax            = 5 * time.Second
)

// Config configures an [Engine]. The zero value is ready to use: every zero
// field takes the documented default.
type Config struct {
	// PoolSize is the number of runtime processes. Default 2.
	PoolSize int

	// BinaryPath is the runtime executable (rkat-rpc, or rkat-sim in
	// tests). Empty means the SDK's resolution: MEERKAT_BIN_PATH, rkat-rpc
	// on PATH, a verified download (see [rpc.Resolver]). MEERKAT_BIN_PATH
	// wins over BinaryPath.
	BinaryPath string
	// Env is appended to the parent's environment for every runtime.
	Env []string
	// Dir is the runtimes' working directory; empty means the caller's.
	Dir string

	// RealmID is the persistent realm every runtime of the pool shares, so
	// that a restarted runtime finds its sessions again. Default "mobd".
	RealmID string
	// StateRoot is the directory realms are stored under. Empty means a
	// fresh temporary directory that Shutdown removes: sessions then
	// survive runtime restarts but not the engine.
	StateRoot string
	// RealmBackend is the storage hint for a new realm: "jsonl" (default)
	// or "sqlite". With "memory" sessions die with their runtime: after a
	// restart their turns fail with [ErrSessionNotFound].
	RealmBackend string

	// MaxSessionsPerRuntime caps the sessions placed on one runtime; when
	// every runtime is full CreateSession fails with [ErrOverloaded].
	// Default 1000.
	MaxSessionsPerRuntime int
	// ModelLimits bounds the turns running at once, engine-wide, per key:
	// "*" (every turn), a provider ("anthropic"), a model
	// ("claude-sonnet-4-6") or "provider/model". A turn takes a slot of
	// every key that matches it (the turn's model and provider, else the
	// session's) and waits, queued in its session, until it gets them; a
	// turn whose caller gives up while it waits is never sent. Nil means
	// no limits.
	ModelLimits map[string]int

	// SessionQueue bounds the turns a session accepts and has not finished
	// (queued plus running); one more is rejected with [ErrOverloaded].
	// Default 64.
	SessionQueue int
	// MemberQueue bounds the requests a member accepts and has not
	// answered. Default 64.
	MemberQueue int
	// StreamBuffer is how many events a [Stream] or [Subscription] holds for
	// a slow consumer before it fails with [ErrStreamOverflow]. Default
	// 4096.
	StreamBuffer int

	// Supervision configures the supervisor of the runtime processes; its
	// zero fields take supervision's defaults, except these, which the
	// engine sets when zero: StartTimeout 15 s (spawn and handshake),
	// Backoff.Base 10 ms, Backoff.Max 5 s, Probe.Interval 5 s, Probe.Timeout
	// 3 s, Probe.Failures 2 (a runtime that fails two health probes in a row
	// is killed and restarted), Intensity max(5, 3×PoolSize), StopTimeout
	// CloseTimeout + 2 s. The engine's own logging hook is added to
	// EventHook.
	Supervision supervision.Spec
	// CloseTimeout is how long a stopping runtime gets after SIGTERM before
	// SIGKILL (after its stdin was closed). Default 5 s.
	CloseTimeout time.Duration
	// Tools are callback tools registered with every runtime at each
	// start.
	Tools []rpc.Tool

	// Logger receives the engine's logs, the runtimes' stderr, supervision
	// events and protoactor's own logs (through log/slog and zapslog). Nil
	// means no logging.
	Logger *zap.Logger
}

// withDefaults returns c with its zero fields filled in.
func (c Config) withDefaults() Config {
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.RealmID == "" {
		c.RealmID = DefaultRealmID
	}
	if c.RealmBackend == "" {
		c.RealmBackend = DefaultRealmBackend
	}
	if c.MaxSessionsPerRuntime <= 0 {
		c.MaxSessionsPerRuntime = DefaultMaxSessionsPerRuntime
	}
	if c.SessionQueue <= 0 {
		c.SessionQueue = DefaultSessionQueue
	}
	if c.MemberQueue <= 0 {
		c.MemberQueue = DefaultMemberQueue
	}
	if c.StreamBuffer <= 0 {
		c.StreamBuffer = DefaultStreamBuffer
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	s := &c.Supervision
	if s.StartTimeout == 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.Backoff.Base == 0 {
		s.Backoff.Base = DefaultBackoffBase
	}
	if s.Backoff.Max == 0 {
		s.Backoff.Max = DefaultBackoffMax
	}
	if s.Probe.Interval == 0 {
		s.Probe.Interval = DefaultProbeInterval
	}
	if s.Probe.Timeout == 0 {
		s.Probe.Timeout = DefaultProbeTimeout
	}
	if s.Probe.Failures == 0 {
		s.Probe.Failures = DefaultProbeFailures
	}
	if s.Intensity == 0 {
		s.Intensity = max(5, 3*c.PoolSize)
	}
	if s.StopTimeout == 0 {
		// The runtime's own close ladder comes first.
		s.StopTimeout = c.CloseTimeout + 2*time.Second
	}
	return c
}

func (c Config) validate() error {
	for k, n := range c.ModelLimits {
		if strings.TrimSpace(k) == "" || n <= 0 {
			return fmt.Errorf("actors: model limit %q = %d: want a non-empty key and a positive limit", k, n)
		}
	}
	return nil
}
