package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Options configures a [Client]. The zero value connects to the runtime
// that [Resolver] finds with default settings.
type Options struct {
	// BinaryPath is an explicit runtime path or command name. The
	// MEERKAT_BIN_PATH environment variable still wins over it, as documented
	// on [Resolver.Resolve]. Ignored when Resolver is set.
	BinaryPath string
	// Resolver overrides binary resolution entirely (download settings,
	// checksums, cache directory). Nil means a Resolver with BinaryPath and
	// ChecksumURL set: when no runtime is installed, Connect downloads the
	// release and installs it only if its SHA-256 matches the checksum the
	// release publishes (see [Resolver.ChecksumURL]).
	Resolver *Resolver

	// RealmID names a persistent realm shared by processes, SDKs and CLIs
	// (--realm). Mutually exclusive with Isolated.
	RealmID string
	// InstanceID names this runtime instance inside the realm (--instance).
	InstanceID string
	// RealmBackend is the realm's storage hint: "sqlite", "jsonl" or "memory".
	RealmBackend string
	// Isolated asks for a fresh private realm (--isolated).
	Isolated bool
	// StateRoot is the directory realms are stored under (--state-root).
	StateRoot string
	// ContextRoot is the project context directory (--context-root).
	ContextRoot string
	// UserConfigRoot is the user configuration directory (--user-config-root).
	UserConfigRoot string
	// LiveWS starts the runtime's live WebSocket listener on an ephemeral
	// loopback port (--live-ws 127.0.0.1:0), as the Python SDK's
	// connect(live_ws=True).
	LiveWS bool
	// LiveWebRTC enables the runtime's live WebRTC transport
	// (--live-webrtc), as connect(live_webrtc=True).
	LiveWebRTC bool

	// Env is appended to the parent's environment for the runtime process.
	Env []string
	// Dir is the runtime's working directory; empty means the caller's.
	Dir string

	// Tools are callback tools registered during the handshake. More can be
	// added later with [Client.RegisterTools]. They are checked as
	// RegisterTools checks them before anything starts: a tool without a
	// name or handler, or with an input schema that is not JSON, fails
	// Connect with [ErrInvalidArgs].
	Tools []Tool

	// Logger receives the SDK's logs and the runtime's stderr (at debug
	// level, named "stderr"). Nil means no logging.
	Logger *zap.Logger

	// StreamBuffer is how many events a stream queues ahead of a slow
	// consumer. Zero means 4096: slack of many seconds for a model's
	// stream, and at most a few hundred KiB per stream, which a fast
	// stream's reader and consumer keep in cache (16384 was 3% slower
	// per event in BenchmarkStreamThroughput).
	StreamBuffer int
	// Overflow says what a full stream buffer does; the zero value is
	// [OverflowBlock].
	Overflow OverflowPolicy
	// LateEventGrace is how long a turn's stream stays open after its
	// response for events the runtime sends late (the runtime does not
	// promise that every event precedes the response). It applies only when
	// the turn's run_completed/run_failed event has not arrived yet. Zero
	// means 250ms; negative means do not wait.
	LateEventGrace time.Duration
	// StrictEvents fails a stream on an event type outside the contract's
	// inventory ([ErrUnknownEventType]) instead of yielding an [*UnknownEvent].
	StrictEvents bool

	// CloseTimeout is how long Close waits after SIGTERM before SIGKILL.
	// Zero means 5s.
	CloseTimeout time.Duration
	// StderrLines is how many trailing stderr lines crash reports keep.
	// Zero means 50.
	StderrLines int
	// MaxLineSize is the longest line accepted from the runtime; a longer
	// one faults the connection with [ErrProtocol]. Zero means
	// [MaxLineSize] (64 MiB).
	MaxLineSize int
	// MaxConcurrentCallbacks bounds callback-tool calls run at once; more
	// wait in line. Zero means 64.
	MaxConcurrentCallbacks int
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.StreamBuffer <= 0 {
		o.StreamBuffer = 4096
	}
	if o.LateEventGrace == 0 {
		o.LateEventGrace = 250 * time.Millisecond
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.StderrLines <= 0 {
		o.StderrLines = 50
	}
	if o.MaxLineSize <= 0 {
		o.MaxLineSize = MaxLineSize
	}
	if o.MaxConcurrentCallbacks <= 0 {
		o.MaxConcurrentCallbacks = 64
	}
}

func (o *Options) spawnArgs() SpawnArgs {
	return SpawnArgs{
		RealmID:        o.RealmID,
		InstanceID:     o.InstanceID,
		RealmBackend:   o.RealmBackend,
		StateRoot:      o.StateRoot,
		ContextRoot:    o.ContextRoot,
		UserConfigRoot: o.UserConfigRoot,
		Isolated:       o.Isolated,
		LiveWS:         o.LiveWS,
		LiveWebRTC:     o.LiveWebRTC,
	}
}

// resolver returns the Resolver Connect uses: Options.Resolver, or the
// default one, which verifies a download against the release's published
// checksum.
func (o *Options) resolver() *Resolver {
	if o.Resolver != nil {
		return o.Resolver
	}
	return &Resolver{Path: o.BinaryPath, Logger: o.Logger, ChecksumURL: true}
}

// validate checks the options Connect and ConnectStreams check before
// starting anything.
func (o *Options) validate() error {
	if o.RealmID != "" && o.Isolated {
		return fmt.Errorf("%w: RealmID and Isolated are mutually exclusive", ErrInvalidArgs)
	}
	for _, t := range o.Tools {
		if err := t.validate(); err != nil {
			return err
		}
	}
	return nil
}

// ServerInfo is what the runtime said about itself in the handshake.
type ServerInfo struct {
	// Name and Version identify the runtime build.
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Capability is one entry of capabilities/get.
type Capability struct {
	// ID is the capability id, e.g. "sessions", "skills", "comms".
	ID string
	// Description is the runtime's description.
	Description string
	// Status is the normalised status: "Available", "DisabledByPolicy",
	// "NotCompiled", "NotSupportedByProtocol", …
	Status string
	// StatusDetail holds the status object's fields (e.g. the policy
	// description), raw; nil for a plain string status.
	StatusDetail json.RawMessage
}

// Available reports whether the capability can be used.
func (c Capability) Available() bool { return c.Status == "Available" }

// Client is a connection to one runtime process. It is safe for concurrent
// use. Create it with [Connect] (spawns the runtime) or [ConnectStreams]
// (speaks over pipes you provide), and Close it when done.
type Client struct {
	opts   Options
	log    *zap.Logger
	conn   *conn
	proc   *process // nil for ConnectStreams
	closer io.Closer
	reader io.Reader // the peer's output, for ConnectStreams
	binary Binary

	info         ServerInfo
	contract     string
	methods      map[string]bool
	capabilities []Capability

	toolsMu sync.RWMutex
	tools   map[string]Tool

	cbSem  chan struct{}
	cbWG   sync.WaitGroup
	cbCtx  context.Context
	cbStop context.CancelFunc

	closeOnce sync.Once
	closeErr  error
	closing   chan struct{}
}

// Connect resolves the runtime binary, starts it with the options' flags,
// performs the handshake (initialize, contract version check,
// capabilities/get, tools/register) and returns a ready Client. ctx bounds
// resolution, start-up and the handshake only; the process lives until
// Close.
func Connect(ctx context.Context, opts Options) (*Client, error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	bin, err := opts.resolver().Resolve(ctx)
	if err != nil {
		return nil, err
	}
	args, err := bin.Args(opts.spawnArgs())
	if err != nil {
		return nil, err
	}
	proc, err := startProcess(bin.Path, args, opts.Env, opts.Dir, opts.Logger.Named("runtime"), opts.StderrLines)
	if err != nil {
		return nil, err
	}
	c := newClient(opts, proc.stdin)
	c.proc = proc
	c.binary = bin
	c.conn.onEOF = func(readErr error) error {
		cause := error(ErrConnectionClosed)
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			cause = fmt.Errorf("%w: %v", ErrConnectionClosed, readErr)
		}
		select {
		case <-c.closing:
			return ErrClientClosed
		default:
		}
		return proc.exitError(2*time.Second, cause)
	}
	go c.conn.readLoop(proc.stdout)
	if err := c.handshake(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.log.Debug("connected to runtime",
		zap.String("binary", bin.Path), zap.Int("pid", proc.cmd.Process.Pid),
		zap.String("server", c.info.Name), zap.String("version", c.info.Version))
	return c, nil
}

// ConnectStreams runs the protocol over r (the runtime's output) and w (its
// input) instead of a process it starts, e.g. an in-process simulated
// runtime or a socket. Close closes w and waits up to CloseTimeout for r to
// end; after that it closes r if r is an io.Closer. When ConnectStreams
// fails (invalid Options.Tools, a failed handshake) it closes w itself.
func ConnectStreams(ctx context.Context, r io.Reader, w io.WriteCloser, opts Options) (*Client, error) {
	opts.defaults()
	for _, t := range opts.Tools {
		if err := t.validate(); err != nil {
			_ = w.Close() // as after a failed handshake: the peer sees its input end
			return nil, err
		}
	}
	c := newClient(opts, w)
	c.closer = w
	c.reader = r
	go c.conn.readLoop(r)
	if err := c.handshake(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func newClient(opts Options, w io.Writer) *Client {
	cbCtx, cbStop := context.WithCancel(context.Background())
	c := &Client{
		opts:    opts,
		log:     opts.Logger,
		conn:    newConn(w, opts.Logger, opts.StreamBuffer, opts.Overflow, opts.LateEventGrace),
		tools:   make(map[string]Tool),
		cbSem:   make(chan struct{}, opts.MaxConcurrentCallbacks),
		cbCtx:   cbCtx,
		cbStop:  cbStop,
		closing: make(chan struct{}),
	}
	c.conn.onRequest = c.onServerRequest
	c.conn.maxLine = opts.MaxLineSize
	c.conn.evOpts = EventOptions{Strict: opts.StrictEvents}
	for _, t := range opts.Tools {
		c.tools[t.Name] = t
	}
	return c
}

type initializeResult struct {
	ServerInfo      ServerInfo `json:"server_info"`
	ContractVersion string     `json:"contract_version"`
	Methods         []string   `json:"methods"`
}

func (c *Client) handshake(ctx context.Context) error {
	var init initializeResult
	if err := c.conn.call(ctx, "initialize", struct{}{}, &init); err != nil {
		return fmt.Errorf("rpc: handshake: %w", err)
	}
	if !VersionCompatible(init.ContractVersion, ContractVersion) {
		return fmt.Errorf("%w: runtime speaks contract %q, this SDK speaks %q", ErrVersionMismatch, init.ContractVersion, ContractVersion)
	}
	c.info = init.ServerInfo
	c.contract = init.ContractVersion
	c.methods = make(map[string]bool, len(init.Methods))
	for _, m := range init.Methods {
		c.methods[m] = true
	}
	caps, err := c.fetchCapabilities(ctx)
	if err != nil {
		return fmt.Errorf("rpc: handshake: %w", err)
	}
	c.capabilities = caps
	if defs := c.toolDefs(); len(defs) > 0 {
		if err := c.conn.call(ctx, "tools/register", map[string]any{"tools": defs}, nil); err != nil {
			return fmt.Errorf("rpc: handshake: register tools: %w", err)
		}
	}
	return nil
}

// VersionCompatible reports whether a runtime's contract version works with
// a client's: for 0.x both must share major and minor, from 1.0 on the
// major. Pre-release and build suffixes are ignored; unparsable versions
// are incompatible.
func VersionCompatible(server, client string) bool {
	sv, ok1 := parseVersion(server)
	cv, ok2 := parseVersion(client)
	if !ok1 || !ok2 {
		return false
	}
	if sv[0] == 0 && cv[0] == 0 {
		return sv[1] == cv[1]
	}
	return sv[0] == cv[0]
}

func parseVersion(v string) ([2]int, bool) {
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) < 2 {
		return [2]int{}, false
	}
	var out [2]int
	for i := range 2 {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 {
			return [2]int{}, false
		}
		out[i] = n
	}
	return out, true
}

func (c *Client) fetchCapabilities(ctx context.Context) ([]Capability, error) {
	var res struct {
		Capabilities []struct {
			ID          string          `json:"id"`
			Description string          `json:"description"`
			Status      json.RawMessage `json:"status"`
		} `json:"capabilities"`
	}
	if err := c.conn.call(ctx, "capabilities/get", struct{}{}, &res); err != nil {
		return nil, err
	}
	caps := make([]Capability, 0, len(res.Capabilities))
	for _, raw := range res.Capabilities {
		if raw.ID == "" {
			return nil, fmt.Errorf("%w: capability without an id", ErrInvalidResponse)
		}
		status, detail, err := normaliseStatus(raw.Status)
		if err != nil {
			return nil, fmt.Errorf("%w: capability %q: %v", ErrInvalidResponse, raw.ID, err)
		}
		caps = append(caps, Capability{ID: raw.ID, Description: raw.Description, Status: status, StatusDetail: detail})
	}
	return caps, nil
}

// normaliseStatus turns "Available" or {"DisabledByPolicy":{…}} into the
// status name and its detail.
func normaliseStatus(raw json.RawMessage) (string, json.RawMessage, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", nil, errors.New("empty status")
		}
		return s, nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) == 0 {
		return "", nil, fmt.Errorf("status %s is neither a name nor a tagged object", raw)
	}
	// A tagged status has exactly one key; take the smallest for determinism.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[0], obj[keys[0]], nil
}

// ServerInfo returns the runtime's name and version from the handshake.
func (c *Client) ServerInfo() ServerInfo { return c.info }

// ContractVersion returns the contract version the runtime reported.
func (c *Client) ContractVersion() string { return c.contract }

// Binary returns the resolved runtime binary (zero for ConnectStreams).
func (c *Client) Binary() Binary { return c.binary }

// PID returns the runtime's process id, or 0 when the Client does not own
// a process.
func (c *Client) PID() int {
	if c.proc == nil {
		return 0
	}
	return c.proc.cmd.Process.Pid
}

// HasMethod reports whether the runtime listed method in its handshake. A
// runtime that sent no method list has none.
func (c *Client) HasMethod(method string) bool { return c.methods[method] }

// Methods returns the method names the runtime listed, sorted.
func (c *Client) Methods() []string {
	out := make([]string, 0, len(c.methods))
	for m := range c.methods {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Capabilities returns the capabilities fetched during the handshake.
func (c *Client) Capabilities() []Capability { return slices.Clone(c.capabilities) }

// HasCapability reports whether capability id is available. The pseudo
// capability "mob" is available when the runtime has mob/create or mob/list.
func (c *Client) HasCapability(id string) bool {
	if id == "mob" {
		return c.methods["mob/create"] || c.methods["mob/list"]
	}
	for _, cp := range c.capabilities {
		if cp.ID == id {
			return cp.Available()
		}
	}
	return false
}

// RequireCapability returns an error wrapping [ErrCapabilityUnavailable]
// unless capability id is available.
func (c *Client) RequireCapability(id string) error {
	if c.HasCapability(id) {
		return nil
	}
	status := "not offered"
	for _, cp := range c.capabilities {
		if cp.ID == id {
			status = cp.Status
		}
	}
	return fmt.Errorf("%w: %q (%s)", ErrCapabilityUnavailable, id, status)
}

// Call sends any method of the contract with params (marshalled to a JSON
// object) and decodes the result into out (nil discards it). It is the
// escape hatch for methods without a typed wrapper.
func (c *Client) Call(ctx context.Context, method string, params, out any) error {
	return c.conn.call(ctx, method, params, out)
}

// Done is closed when the connection has ended: the runtime exited, the
// protocol was violated, or Close was called.
func (c *Client) Done() <-chan struct{} {
	if c.conn == nil {
		return closedChan
	}
	return c.conn.faultCh
}

var closedChan = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error { return c.conn.err() }

// Kill ends the runtime process at once with SIGKILL, without the close
// ladder; pending calls then fail with an [*ExitError]. It is for
// supervisors that must stop a hung runtime and for crash tests. Kill on a
// Client that owns no process, or whose process already exited, is a
// no-op. Close must still be called to release the Client.
func (c *Client) Kill() error {
	if c.proc == nil {
		return nil
	}
	if err := c.proc.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("rpc: kill runtime: %w", err)
	}
	return nil
}

// Close stops the runtime: pending calls and streams fail with
// [ErrClientClosed], stdin is closed, the process gets SIGTERM and, after
// CloseTimeout, SIGKILL. It waits for every goroutine the Client started.
// Close is idempotent and safe to call concurrently; it returns nil unless
// the connection could not be shut down.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil // never connected
	}
	c.closeOnce.Do(func() {
		close(c.closing)
		c.conn.setFault(ErrClientClosed)
		c.cbStop()
		switch {
		case c.proc != nil:
			c.proc.stop(c.opts.CloseTimeout)
		case c.closer != nil:
			c.closeErr = c.closer.Close()
			select {
			case <-c.conn.done:
			case <-time.After(c.opts.CloseTimeout):
				// The peer did not end its output after its input closed.
				if rc, ok := c.reader.(io.Closer); ok {
					_ = rc.Close()
				} else {
					c.closeErr = errors.Join(c.closeErr, fmt.Errorf("rpc: peer output still open %v after close", c.opts.CloseTimeout))
				}
			}
		}
		<-c.conn.done
		c.cbWG.Wait()
	})
	return c.closeErr
}
