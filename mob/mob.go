package mob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/internal/dispatch"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/supervision"
)

// State is a mob's lifecycle state (Meerkat's MobState).
type State string

// Mob lifecycle states.
const (
	StateCreating  State = "creating"
	StateRunning   State = "running"
	StateStopped   State = "stopped"
	StateCompleted State = "completed"
	StateDestroyed State = "destroyed"
)

// Config configures a mob. Host and Journal are required; the other zero
// fields take the documented defaults.
type Config struct {
	// Host runs the members (EngineHost, or a flowtest host).
	Host Host
	// Journal stores the mob's events. Several mobs may share one.
	Journal *journal.Store
	// Directory, when set, lists the mob so that its members' peer tool
	// ([Directory.Tool]) can reach it.
	Directory *Directory
	// Clock times step timeouts, retries, approvals and deadlines; nil is
	// the wall clock.
	Clock supervision.Clock
	// Logger receives the mob's logs; nil means none.
	Logger *zap.Logger
	// NewID returns fresh run ids; nil means time-ordered UUIDs (version
	// 7), which the journal's run index takes at its end.
	NewID func() string
	// RetainRuns is how many finished runs the mob keeps in memory
	// (Runs lists them); older ones are read back from the journal when
	// asked for by id (Run). Zero means 256; negative keeps none.
	RetainRuns int
}

// Mob is a running mob: a definition, its members (actors on the Host)
// and its flow runs (actors too), with every transition journalled as an
// Event. Create makes a new one; Open and Recover bring journalled ones
// back after a restart, resuming their runs. All methods are safe for
// concurrent use.
type Mob struct {
	cfg Config
	id  string
	def *flows.Definition
	log *zap.Logger
	// skills holds the text of the definition's skills.
	skills map[string]string

	mu       sync.Mutex
	state    State
	members  map[string]*member
	runs     map[string]*Run
	rr       map[string]int // role → its member that gets the next fan_in
	finished []string       // finished runs still in runs, oldest first

	prepMu   sync.Mutex
	prepared map[string]*preparedFlow // the definition's flows, by id
	closed   bool
	// destroying is set once Destroy has begun.
	destroying bool
	wg         sync.WaitGroup  // deliveries, run actors, orphan watches and turn cancels
	stop       chan struct{}   // closed when Close starts
	life       context.Context // ends when Close starts, with stop
	endLife    context.CancelFunc
	dispatch   *dispatch.Warm // runs the run actors' mailboxes
	ended      chan struct{}  // closed when Close is done: endSeq (and final) are set
	endSeq     uint64         // the journal's last seq once the mob closed
	subs       int            // running subscriptions
	final      []Event        // a destroyed mob's events, for its subscribers
	orphans    orphanage      // timed-out turns left running, under mu
	autoSpawn  sync.Mutex     // held while spawn_policy spawns a member
}

type member struct {
	identity string
	profile  string
	session  string
	handle   Member
	peers    map[string]bool
	retiring bool
	// respawning is set, with retiring, while Respawn replaces the
	// member's actor: its role's steps wait for it rather than fail.
	respawning bool
}

func (c *Config) fill() error {
	if c.Host == nil {
		return fmt.Errorf("%w: Config.Host is required", ErrInvalidArgument)
	}
	if c.Journal == nil {
		return fmt.Errorf("%w: Config.Journal is required", ErrInvalidArgument)
	}
	if c.Clock == nil {
		c.Clock = supervision.RealClock()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.NewID == nil {
		c.NewID = newRunID
	}
	if c.RetainRuns == 0 {
		c.RetainRuns = 256
	}
	return nil
}

func newMob(def *flows.Definition, cfg Config) *Mob {
	life, endLife := context.WithCancel(context.Background())
	return &Mob{
		life: life, endLife: endLife,
		cfg: cfg, id: def.ID, def: def, log: cfg.Logger.With(zap.String("mob", def.ID)),
		state: StateCreating, members: make(map[string]*member), runs: make(map[string]*Run),
		rr: make(map[string]int), prepared: make(map[string]*preparedFlow), stop: make(chan struct{}), ended: make(chan struct{}),
		dispatch: dispatch.NewWarm(),
	}
}

// Create creates a mob from a definition (flows.Load…, or built in Go):
// it validates a copy of it (the caller's definition is not modified),
// journals mob_created with it and returns the mob running, without
// members. It fails with ErrMobExists when the journal already holds a mob
// with that id. An invalid definition is refused with a
// *flows.ValidationError; one whose id the mob cannot take (an id must be
// valid UTF-8 of at most 256 bytes without control characters) with one
// that also matches ErrInvalidArgument.
func Create(ctx context.Context, def *flows.Definition, cfg Config) (*Mob, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if def == nil {
		return nil, fmt.Errorf("%w: nil definition", ErrInvalidArgument)
	}
	// Validation resolves each step's schema into the step: the mob
	// validates and keeps a copy of the flows and their steps, so the
	// caller's definition may be shared, even by concurrent Creates.
	own := *def
	own.Flows = make(map[string]flows.FlowSpec, len(def.Flows))
	for id, f := range def.Flows {
		own.Flows[id] = ownSteps(f)
	}
	def = &own
	if err := validateDefinition(def); err != nil {
		return nil, err
	}
	recs, err := cfg.Journal.Read(ctx, journal.Query{Mob: def.ID, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("mob: read journal: %w", err)
	}
	if len(recs) > 0 {
		return nil, fmt.Errorf("%w: %q", ErrMobExists, def.ID)
	}
	raw, err := json.Marshal(def.WithInlineSchemas())
	if err != nil {
		return nil, fmt.Errorf("mob: encode definition: %w", err)
	}
	skills, err := skillTexts(def)
	if err != nil {
		return nil, err
	}
	m := newMob(def, cfg)
	m.skills = skills
	if err := m.emit(&Event{Type: EventMobCreated, Definition: raw}); err != nil {
		return nil, err
	}
	if err := cfg.Journal.Sync(ctx); err != nil {
		return nil, err
	}
	m.state = StateRunning
	m.register()
	return m, nil
}

// ID returns the mob's id.
func (m *Mob) ID() string { return m.id }

// Definition returns the mob's definition. It must not be modified.
func (m *Mob) Definition() *flows.Definition { return m.def }

// State returns the mob's lifecycle state.
func (m *Mob) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

func (m *Mob) register() {
	if m.cfg.Directory != nil {
		m.cfg.Directory.add(m)
	}
}

// eventBuffers holds the buffers emit encodes events into, since the
// journal copies what it is given: *[]byte, of capacity up to
// maxPooledEvent.
var eventBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledEvent is the capacity above which an event's buffer is left to
// the GC rather than kept for the next event.
const maxPooledEvent = 64 << 10

// emit journals ev for the mob and sets its cursor.
func (m *Mob) emit(ev *Event) error {
	ev.Mob = m.id
	m.stamp(ev)
	ev.Cursor = 0
	buf := eventBuffers.Get().(*[]byte)
	defer eventBuffers.Put(buf)
	data, err := ev.appendPayload((*buf)[:0])
	if cap(data) <= maxPooledEvent {
		*buf = data
	}
	if err != nil {
		return fmt.Errorf("mob: encode %s event: %w", ev.Type, err)
	}
	// appendPayload writes valid JSON or fails, as encoding/json does;
	// Append copies it.
	seq, err := m.cfg.Journal.Append(journal.Record{Mob: m.id, Run: ev.Run, Kind: ev.Type, At: ev.At, Data: data, DataValid: true})
	if err != nil {
		return fmt.Errorf("mob: journal %s event: %w", ev.Type, err)
	}
	ev.Cursor = seq
	return nil
}

// DecodeEvent decodes a journal record written by a mob into its Event,
// with the record's sequence number as its cursor. It is for readers of a
// journal shared by several mobs (a daemon's event stream); a mob's own
// readers use Mob.Events and Mob.Subscribe.
//
// The record's columns give the event its mob, type, run and time: a mob
// journals events without them (see Event.appendPayload). Records of
// earlier versions, whose data repeats them, decode the same.
func DecodeEvent(r journal.Record) (Event, error) {
	var ev Event
	if err := json.Unmarshal(r.Data, &ev); err != nil {
		return ev, fmt.Errorf("mob: journal record %d (%s): %w", r.Seq, r.Kind, err)
	}
	ev.Cursor, ev.Mob, ev.Type, ev.Run, ev.At = r.Seq, r.Mob, r.Kind, r.Run, r.At
	return ev, nil
}

// Events returns up to limit events of the mob after cursor (0: from the
// start; limit 0: all), in order.
func (m *Mob) Events(ctx context.Context, after uint64, limit int) ([]Event, error) {
	return readEvents(ctx, m.cfg.Journal, journal.Query{Mob: m.id, After: after, Limit: limit})
}

func readEvents(ctx context.Context, j *journal.Store, q journal.Query) ([]Event, error) {
	recs, err := j.Read(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("mob: read journal: %w", err)
	}
	out := make([]Event, 0, len(recs))
	for _, r := range recs {
		ev, err := DecodeEvent(r)
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// subscribeBatch is how many events a subscription reads at once.
const subscribeBatch = 256

// Subscribe yields the mob's events after cursor: those journalled
// already, then live ones as they are committed, until ctx is done (the
// final pair carries ctx's error, and no event follows the moment ctx is
// done, even one already read) or the mob is closed (after the events
// journalled until then, even those of a Destroy, the final pair carries
// ErrClosed). A subscriber that reconnects passes the cursor of the last
// event it saw and misses nothing.
func (m *Mob) Subscribe(ctx context.Context, after uint64) func(yield func(Event, error) bool) {
	return func(yield func(Event, error) bool) {
		m.mu.Lock()
		m.subs++
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			m.subs--
			m.mu.Unlock()
		}()
		for {
			wake := m.cfg.Journal.Notify()
			if m.isClosing() {
				m.drain(ctx, after, yield)
				return
			}
			evs, err := m.Events(ctx, after, subscribeBatch)
			if err != nil {
				yield(Event{}, err)
				return
			}
			if m.isClosing() {
				// The read may have raced a Destroy and a new mob with the
				// same id: drain reads what this mob journalled only.
				m.drain(ctx, after, yield)
				return
			}
			for _, ev := range evs {
				if err := ctx.Err(); err != nil {
					yield(Event{}, err)
					return
				}
				after = ev.Cursor
				if !yield(ev, nil) {
					return
				}
			}
			if len(evs) == subscribeBatch {
				continue
			}
			select {
			case <-wake:
			case <-ctx.Done():
				yield(Event{}, ctx.Err())
				return
			case <-m.stop:
			}
		}
	}
}

func (m *Mob) isClosing() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// drain ends the subscription of a closed mob: it yields the events after
// cursor that the mob journalled until it closed (kept in memory by
// Destroy, whose journal is deleted), then ErrClosed.
func (m *Mob) drain(ctx context.Context, after uint64, yield func(Event, error) bool) {
	select {
	case <-m.ended:
	case <-ctx.Done():
		yield(Event{}, ctx.Err())
		return
	}
	m.mu.Lock()
	evs, end := m.final, m.endSeq
	m.mu.Unlock()
	if evs == nil {
		var err error
		if evs, err = m.Events(ctx, after, 0); err != nil {
			yield(Event{}, err)
			return
		}
	}
	for _, ev := range evs {
		if ev.Cursor <= after || ev.Cursor > end {
			continue
		}
		if err := ctx.Err(); err != nil {
			yield(Event{}, err)
			return
		}
		if !yield(ev, nil) {
			return
		}
	}
	yield(Event{}, ErrClosed)
}

// allowed reports whether op is allowed in the mob's state; m.mu held.
func (m *Mob) allowed(op string, states ...State) error {
	if m.closed && m.state != StateDestroyed {
		return fmt.Errorf("%w: mob %q", ErrClosed, m.id)
	}
	if slices.Contains(states, m.state) {
		return nil
	}
	return &LifecycleError{Mob: m.id, State: m.state, Op: op}
}

// Stop stops the mob: it refuses new flow runs, spawns and member
// messages until Resume; runs in progress go on.
func (m *Mob) Stop(ctx context.Context) error {
	return m.transition(ctx, "stop", EventMobStopped, StateStopped, nil, StateRunning)
}

// Resume lets a stopped mob take work again.
func (m *Mob) Resume(ctx context.Context) error {
	return m.transition(ctx, "resume", EventMobResumed, StateRunning, nil, StateStopped)
}

// Complete marks the mob completed: it takes no more work. It fails with
// ErrLifecycle while runs are active.
func (m *Mob) Complete(ctx context.Context) error {
	// Checked with m.mu held, so that no run starts in between.
	idle := func() error {
		if active := m.activeRuns(); active > 0 {
			return &LifecycleError{Mob: m.id, State: m.state, Op: fmt.Sprintf("complete with %d active runs", active)}
		}
		return nil
	}
	return m.transition(ctx, "complete", EventMobCompleted, StateCompleted, idle, StateRunning, StateStopped)
}

// transition journals evType and moves the mob to state to, if it is in
// one of the states from and check (called with m.mu held) allows it.
func (m *Mob) transition(ctx context.Context, op, evType string, to State, check func() error, from ...State) error {
	m.mu.Lock()
	if err := m.allowed(op, from...); err != nil {
		m.mu.Unlock()
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			m.mu.Unlock()
			return err
		}
	}
	if err := m.emit(&Event{Type: evType}); err != nil {
		m.mu.Unlock()
		return err
	}
	m.state = to
	m.mu.Unlock()
	return m.cfg.Journal.Sync(ctx)
}

func (m *Mob) activeRuns() int {
	n := 0
	for _, r := range m.runs {
		if !r.Status().Status.Terminal() {
			n++
		}
	}
	return n
}

// Destroy cancels the mob's active runs, retires its members, journals
// mob_destroying and deletes the mob's journal records: its id is free
// again. The members' sessions stay in the runtime's realm.
func (m *Mob) Destroy(ctx context.Context) (err error) {
	m.mu.Lock()
	if err := m.allowed("destroy", StateRunning, StateStopped, StateCompleted); err != nil {
		m.mu.Unlock()
		return err
	}
	if m.destroying {
		m.mu.Unlock()
		return &LifecycleError{Mob: m.id, State: m.state, Op: "destroy (already being destroyed)"}
	}
	m.destroying = true
	runs := slices.Collect(maps.Values(m.runs))
	m.mu.Unlock()
	defer func() {
		if err != nil {
			m.mu.Lock()
			if m.state != StateDestroyed {
				m.destroying = false // it may be tried again
			}
			m.mu.Unlock()
		}
	}()
	for _, r := range runs {
		if err := r.Cancel(ctx, "mob destroyed"); err != nil && !errors.Is(err, ErrRunFinished) {
			return err
		}
	}
	for _, r := range runs {
		r.Wait(ctx) //nolint:errcheck // canceled runs fail by design
	}
	for _, id := range m.Members() {
		if err := m.Retire(ctx, id); err != nil && !errors.Is(err, ErrMemberNotFound) {
			return err
		}
	}
	m.mu.Lock()
	if err := m.emit(&Event{Type: EventMobDestroying}); err != nil {
		m.mu.Unlock()
		return err
	}
	m.state = StateDestroyed
	m.mu.Unlock()
	if err := m.cfg.Journal.Sync(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	subscribed := m.subs > 0
	m.mu.Unlock()
	if subscribed {
		// The journal goes: its subscribers get the end of it from here.
		if evs, err := m.Events(ctx, 0, 0); err == nil {
			m.mu.Lock()
			m.final = evs
			m.mu.Unlock()
		}
	}
	m.Close()
	if _, err := m.cfg.Journal.DeleteMob(ctx, m.id); err != nil {
		return fmt.Errorf("mob: delete journal of %q: %w", m.id, err)
	}
	return nil
}

// Close stops the mob's run actors and waits for them, leaving the journal
// as it is: active runs stay active there and resume when the mob is
// opened again (Open, Recover). Its members' actors are retired, without
// a journal event: they answer what they accepted and stop, freeing their
// identities, and their sessions stay in the realm, so that Open, on this
// Host or another, re-attaches the members to them. Close is idempotent;
// it returns once the mob is closed.
func (m *Mob) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.ended
		return
	}
	m.closed = true
	close(m.stop)
	m.endLife()
	runs := slices.Collect(maps.Values(m.runs))
	m.mu.Unlock()
	for _, r := range runs {
		r.stopActor()
	}
	m.wg.Wait()
	m.dispatch.Close()
	m.mu.Lock()
	var pids []*actor.PID
	for _, mem := range m.members {
		if mem.handle != nil {
			pids = append(pids, mem.handle.PID())
		}
	}
	m.mu.Unlock()
	m.releaseMembers(pids)
	if m.cfg.Directory != nil {
		m.cfg.Directory.remove(m)
	}
	m.mu.Lock()
	m.endSeq = m.cfg.Journal.LastSeq()
	m.mu.Unlock()
	close(m.ended)
}

// releaseMembers retires member actors (best effort, concurrently): each
// frees its identity as soon as it has the message.
func (m *Mob) releaseMembers(pids []*actor.PID) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, pid := range pids {
		wg.Go(func() {
			if _, err := request(ctx, m.cfg.Host.System(), pid, &actors.RetireMember{}); err != nil && !errors.Is(err, ErrMemberGone) {
				m.log.Warn("retire a member on close", zap.String("pid", pid.String()), errField(err))
			}
		})
	}
	wg.Wait()
}

// closeTimeout bounds how long Close waits for each member to take its
// retirement.
const closeTimeout = 2 * time.Second

// clock returns the mob's clock.
func (m *Mob) now() time.Time { return m.cfg.Clock.Now() }

// stamp gives ev the time it happened, now, unless it has one.
func (m *Mob) stamp(ev *Event) {
	if ev.At.IsZero() {
		ev.At = m.now().UTC()
	}
}

func errField(err error) zap.Field { return zap.Error(err) }

// nextOf picks the member of a role that gets a fan_in step: the role's
// live members (those membersOf lists) take turns, in identity order. It
// reports false when the role has none.
func (m *Mob) nextOf(role string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var buf [16]string
	ids := m.roleLocked(buf[:0], role)
	if len(ids) == 0 {
		return "", false
	}
	i := m.rr[role] % len(ids)
	m.rr[role] = i + 1
	return ids[i], true
}

// validateDefinition validates def (which resolves its steps' schemas,
// see flows.Definition.Validate) and checks that its id is one the mob
// can take: the problems of both are reported together.
func validateDefinition(def *flows.Definition) error {
	err := def.Validate()
	if def.ID == "" { // flows reports it missing
		return err
	}
	problem := idProblem(def.ID)
	if problem == "" {
		return err
	}
	verr := &flows.ValidationError{}
	if err != nil && !errors.As(err, &verr) {
		return err
	}
	errs := append([]flows.FieldError{{Path: "id", Msg: problem}}, verr.Errors...)
	return &definitionError{&flows.ValidationError{Errors: errs}}
}

// maxIDLen bounds, in bytes, the ids a mob takes from its callers: every
// journal record of a run holds its id, and every event of a mob its id.
const maxIDLen = 256

// idProblem says what makes id unfit to name a mob, a run or a member, or
// returns "" when it is fit. Such an id is stored in the journal, shown in
// prompts and logs and used in URLs: it must be non-empty valid UTF-8 of
// at most maxIDLen bytes, without control characters (NUL among them).
// An id is a segment of the API's URLs (percent-encoded, so any other
// character goes), and "." and ".." are the segments URL resolution
// removes (RFC 3986 §5.2.4), percent-encoded or not: "victim/members/.."
// would name the mob "victim". So no id is "." or "..", nor has such a
// part between its '/'s (a proxy that decodes "%2F" would resolve it).
func idProblem(id string) string {
	switch {
	case id == "":
		return "must not be empty"
	case len(id) > maxIDLen:
		return fmt.Sprintf("must be at most %d bytes long, not %d", maxIDLen, len(id))
	case !utf8.ValidString(id):
		return "must be valid UTF-8"
	case strings.ContainsFunc(id, unicode.IsControl):
		return "must not contain control characters"
	case id == "." || id == "..":
		return `must not be "." or ".." (a URL path segment that names its parent)`
	case slices.ContainsFunc(strings.Split(id, "/"), func(part string) bool { return part == "." || part == ".." }):
		return `must not have "." or ".." between its '/'s (a URL path segment that names its parent)`
	}
	return ""
}

// checkID returns an error matching ErrInvalidArgument when id is unfit
// to name a mob, run or member (see idProblem); what names the argument,
// e.g. "run id".
func checkID(what, id string) error {
	problem := idProblem(id)
	switch {
	case problem == "":
		return nil
	case len(id) > maxIDLen: // not quoted back: it is long
		return fmt.Errorf("%w: %s %s", ErrInvalidArgument, what, problem)
	}
	return fmt.Errorf("%w: %s %q %s", ErrInvalidArgument, what, id, problem)
}

// newRunID returns a version 7 UUID: unique, and ordered by time, so that
// a new run's journal records go to the end of the journal's run index
// rather than to a random page of it.
func newRunID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString() // the clock or the random source failed
	}
	return id.String()
}
