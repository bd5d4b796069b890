package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults for the zero fields of Options.
const (
	// DefaultMaxBatch is the default maximum number of records per write
	// transaction.
	DefaultMaxBatch = 1024
	// DefaultMaxPending is the default number of accepted but uncommitted
	// records at which Append starts to block.
	DefaultMaxPending = 64 << 10
)

// Options configures a Store. The zero value is valid and selects the
// defaults.
type Options struct {
	// Logger receives the store's diagnostics (open, close, faults); nil
	// means no logging.
	Logger *zap.Logger
	// MaxBatch is the maximum number of records per write transaction;
	// 0 means DefaultMaxBatch. The records of one Append call are never
	// split across transactions, so a single call with more records than
	// MaxBatch gets a transaction of its own.
	MaxBatch int
	// MaxPending bounds the records accepted but not yet committed: Append
	// blocks while that many are pending (backpressure) until the writer
	// catches up. 0 means DefaultMaxPending.
	MaxPending int
	// Synchronous is the SQLite synchronous pragma of the writer: "NORMAL"
	// (the default; in WAL mode no committed record is lost when the
	// process dies, but a power loss or OS crash may lose the latest
	// commits) or "FULL" (every commit survives power loss; slower). Case
	// insensitive.
	Synchronous string
	// Now supplies the time for records appended with a zero At; nil means
	// time.Now.
	Now func() time.Time
	// CommitDelay is how long the writer lets appended records gather
	// before it commits them, so that bursts of appends share a
	// transaction: a write transaction costs far more than a record. The
	// writer does not wait while a Sync or a read is waiting for the
	// records, or once MaxBatch records are pending. 0 means
	// DefaultCommitDelay; negative means commit as soon as records arrive.
	CommitDelay time.Duration
}

// DefaultCommitDelay is the default Options.CommitDelay. A commit costs far
// more CPU than a record, and that CPU is taken from the runtimes a daemon
// runs beside its journal; 20 ms lets the records of several flow steps
// share a transaction even when the steps' turns take under a millisecond,
// and is short against the turns of a real model. Sync, AppendSync and Read
// do not wait for it.
const DefaultCommitDelay = 20 * time.Millisecond

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	switch {
	case o.MaxBatch < 0:
		return o, fmt.Errorf("journal: invalid options: MaxBatch %d < 0", o.MaxBatch)
	case o.MaxBatch == 0:
		o.MaxBatch = DefaultMaxBatch
	}
	switch {
	case o.MaxPending < 0:
		return o, fmt.Errorf("journal: invalid options: MaxPending %d < 0", o.MaxPending)
	case o.MaxPending == 0:
		o.MaxPending = DefaultMaxPending
	}
	switch s := strings.ToUpper(o.Synchronous); s {
	case "":
		o.Synchronous = "NORMAL"
	case "NORMAL", "FULL":
		o.Synchronous = s
	default:
		return o, fmt.Errorf("journal: invalid options: Synchronous %q, want NORMAL or FULL", o.Synchronous)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = DefaultCommitDelay
	}
	return o, nil
}

// Stats are cumulative counters of a Store since Open.
type Stats struct {
	// Appended counts the records accepted by Append.
	Appended uint64
	// Committed counts the records committed to the database.
	Committed uint64
	// Transactions counts the write transactions committed; with group
	// commit it is usually much smaller than Committed.
	Transactions uint64
}

// Store is an open journal. All methods are safe for concurrent use.
//
// A Store runs one writer goroutine, started by Open and stopped by Close;
// Close must be called to release it, the database and its files. Commits
// are made by that goroutine or, when they wait for one, by Sync,
// AppendSync and the reads, one at a time.
type Store struct {
	path        string
	log         *zap.Logger
	now         func() time.Time
	maxBatch    int
	maxPending  int
	commitDelay time.Duration

	wdb *sql.DB // the writer connection (exactly one); also used by DeleteMob
	rdb *sql.DB // read connections; == wdb for ":memory:"
	ins *inserter

	wake chan struct{} // capacity 1: a token tells the writer to look at the queue
	done chan struct{} // closed when the writer goroutine has returned

	closeOnce sync.Once
	closeErr  error

	ops sync.WaitGroup // Read, Mobs and DeleteMob calls in flight; Close waits for them

	mu         sync.Mutex
	space      sync.Cond   // on mu: pending dropped or the store stopped; wakes Appends held by backpressure
	queue      [][]pending // Append calls accepted and not yet taken by the writer, in seq order
	lastSeq    uint64      // last seq assigned
	committed  uint64      // last seq committed (commits happen in seq order)
	pendingN   int         // records accepted and not committed
	stats      Stats
	closing    bool          // Close has begun: nothing new is accepted
	stopped    bool          // the writer has returned (drained at Close, or faulted)
	fault      *FaultError   // sticky write error
	commitCh   chan struct{} // closed at the next commit (then replaced) and when the writer stops (then kept)
	commitUsed bool          // commitCh was handed out, so a commit must close and replace it
	writing    bool          // a commit (or checkpoint) is in progress, by the writer goroutine or a Sync caller
	syncing    int           // syncTo calls waiting for someone else's commit: the writer commits without delay
	walFrames  int           // about how many WAL frames were written since the last checkpoint (file stores)
	ckptNow    bool          // the committer has handed s.writing to the writer goroutine for the checkpoint
	spare      [][]pending   // a cleared queue buffer for the next committer to swap in
	kick       *time.Timer   // wakes the idle writer CommitDelay after an append
	kickFired  bool          // kick went off: the writer commits
}

// pending is a record accepted by Append, in the form the writer binds.
type pending struct {
	seq     uint64
	mob     string
	run     string
	kind    string
	at      int64 // Unix nanoseconds
	data    string
	hasData bool
}

// Open opens the journal at path, creating the database file and schema if
// absent and migrating an older schema, and starts the writer goroutine. The
// path ":memory:" opens a private in-memory database. ctx bounds the opening
// only; it is not retained.
//
// A file database is put in WAL mode, so readers do not block the writer and
// a process crash never loses a committed record. The next seq is one more
// than the highest seq ever committed to the file.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("journal: open: empty path")
	}
	w, r, err := openDBs(ctx, path, opts.Synchronous)
	if err != nil {
		return nil, err
	}
	dbs := []*sql.DB{w}
	if r != w {
		dbs = append(dbs, r)
	}
	from, err := migrate(ctx, w, opts.Now().UnixNano())
	if err != nil {
		return nil, closeOnErr(fmt.Errorf("journal: open %q: %w", path, err), dbs...)
	}
	last, err := highWater(ctx, w)
	if err != nil {
		return nil, closeOnErr(fmt.Errorf("journal: open %q: %w", path, err), dbs...)
	}
	// The statements are prepared now, so that a database they do not fit
	// fails Open rather than the first commit.
	ins := newInserter(w)
	if err := ins.onConn(ctx, "prepare statements", func(dc any) error { return ins.prepare(ctx, dc) }); err != nil {
		return nil, closeOnErr(fmt.Errorf("journal: open %q: %w", path, err), dbs...)
	}
	s := &Store{
		path:        path,
		log:         opts.Logger,
		now:         opts.Now,
		maxBatch:    opts.MaxBatch,
		maxPending:  opts.MaxPending,
		commitDelay: opts.CommitDelay,
		wdb:         w,
		rdb:         r,
		ins:         ins,
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		lastSeq:     last,
		committed:   last,
		commitCh:    make(chan struct{}),
	}
	s.space.L = &s.mu
	go s.run()
	s.log.Debug("journal opened",
		zap.String("path", path),
		zap.Int("schema_from", from),
		zap.Int("schema", SchemaVersion),
		zap.Uint64("last_seq", last),
		zap.String("synchronous", opts.Synchronous))
	return s, nil
}

// Append validates recs, assigns each a Seq (consecutive, store-wide strictly
// increasing) and At (Options.Now() where zero), and queues them for the
// writer. It returns at once with the last seq assigned (the store's LastSeq
// if recs is empty); it does not wait for I/O, except that it blocks while
// Options.MaxPending records are already waiting to be committed.
//
// recs itself is not modified, and the Data bytes are copied, so the caller
// may reuse them on return. If any record is invalid, Append accepts none and
// returns an error wrapping ErrInvalidRecord. After Close it returns
// ErrClosed; on a faulted store, the *FaultError.
//
// Records are committed in seq order, so the records appended by one
// goroutine are committed in the order of its calls, and the records of one
// call are committed in one transaction: all or none survive a crash. Append
// does not make them durable; Sync or AppendSync does.
func (s *Store) Append(recs ...Record) (last uint64, err error) {
	var call []pending
	if len(recs) > 0 {
		call = make([]pending, len(recs))
		var now int64
		haveNow := false
		for i := range recs {
			r := &recs[i]
			if err := validate(i, r); err != nil {
				return 0, err
			}
			p := &call[i]
			p.mob, p.run, p.kind = r.Mob, r.Run, r.Kind
			if r.At.IsZero() {
				if !haveNow {
					now, haveNow = s.now().UnixNano(), true
				}
				p.at = now
			} else {
				p.at = r.At.UnixNano()
			}
			if r.Data != nil {
				p.data, p.hasData = string(r.Data), true
			}
		}
	}

	s.mu.Lock()
	for {
		if s.closing {
			s.mu.Unlock()
			return 0, fmt.Errorf("journal: append: %w", ErrClosed)
		}
		if s.fault != nil {
			f := s.fault
			s.mu.Unlock()
			return 0, f
		}
		if len(call) == 0 {
			last = s.lastSeq
			s.mu.Unlock()
			return last, nil
		}
		// A call larger than MaxPending is let through alone rather than
		// never.
		if s.pendingN == 0 || s.pendingN+len(call) <= s.maxPending {
			break
		}
		s.space.Wait()
	}
	for i := range call {
		s.lastSeq++
		call[i].seq = s.lastSeq
	}
	last = s.lastSeq
	s.queue = append(s.queue, call)
	s.pendingN += len(call)
	s.stats.Appended += uint64(len(call))
	// The writer commits records CommitDelay after the first of them
	// arrived, woken by a timer, so that a burst of appends shares a
	// transaction and the appender is not interrupted by the writer's
	// wake-up; a full batch wakes it at once.
	wake := s.commitDelay <= 0 || s.pendingN >= s.maxBatch
	if !wake && s.kick == nil {
		s.kick = time.AfterFunc(s.commitDelay, s.kicked)
	}
	s.mu.Unlock()

	if wake {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is already due
		}
	}
	return last, nil
}

// kicked is the kick timer's function.
func (s *Store) kicked() {
	s.mu.Lock()
	s.kickFired = true
	s.mu.Unlock()
	s.poke()
}

// poke wakes the writer.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already due
	}
}

// Sync returns nil once every record appended before the call is committed.
// It returns ErrClosed after Close, the *FaultError if the store is faulted,
// and ctx's error if ctx ends first (the records stay queued and will still
// be committed). When no commit is in progress, Sync commits the queued
// records itself; a commit once begun is finished, so Sync may return up to
// one commit's duration after ctx ends.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("journal: sync: %w", err)
	}
	target := s.lastSeq
	s.mu.Unlock()
	return s.syncTo(ctx, target)
}

// AppendSync is Append followed by waiting until the appended records are
// committed. It returns the last seq assigned. When it returns an error from
// the wait (ctx ended), the records were accepted and may still be
// committed; the returned seq says which they are.
func (s *Store) AppendSync(ctx context.Context, recs ...Record) (uint64, error) {
	last, err := s.Append(recs...)
	if err != nil {
		return 0, err
	}
	return last, s.syncTo(ctx, last)
}

// syncTo waits until the record with seq target (and so every earlier one)
// is committed, the store stops short of it, or ctx ends. When nobody is
// committing, it commits the queued records itself rather than wake the
// writer goroutine and wait for it: a durable append then costs no
// goroutine hand-off either way. A commit once begun is finished, even if
// ctx ends meanwhile.
func (s *Store) syncTo(ctx context.Context, target uint64) error {
	for {
		s.mu.Lock()
		switch {
		case s.committed >= target:
			s.mu.Unlock()
			return nil
		case s.fault != nil:
			f := s.fault
			s.mu.Unlock()
			return f
		case s.stopped:
			// Cannot happen: the writer drains the queue before it stops
			// without a fault. Reported rather than waited on forever.
			s.mu.Unlock()
			return fmt.Errorf("journal: sync: writer stopped before seq %d was committed: %w", target, ErrClosed)
		case !s.writing && len(s.queue) > 0 && ctx.Err() == nil:
			calls := s.takeLocked()
			s.mu.Unlock()
			s.commitTaken(calls)
			continue
		}
		// Someone else is committing: wait for the commit and look again.
		ch := s.commitChLocked()
		s.syncing++
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		s.mu.Lock()
		s.syncing--
		done := s.committed >= target
		s.mu.Unlock()
		if !done && ctx.Err() != nil {
			return fmt.Errorf("journal: sync to seq %d: %w", target, context.Cause(ctx))
		}
	}
}

// Notify returns a channel that is closed the next time records are
// committed, or when the store stops (Close or fault). Take it before reading
// so that a commit between the read and the wait is not missed; see the
// package documentation for the subscriber loop. Once the store has stopped,
// the returned channel is already closed.
func (s *Store) Notify() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitChLocked()
}

// commitChLocked returns the channel closed by the next commit. s.mu is held.
func (s *Store) commitChLocked() chan struct{} {
	s.commitUsed = true
	return s.commitCh
}

// LastSeq returns the last seq assigned by Append (or, before any Append, the
// highest seq in the database when it was opened). It may not be committed
// yet.
func (s *Store) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Err returns the sticky write error that faulted the store (a *FaultError),
// or nil if the store is healthy.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == nil {
		return nil
	}
	return s.fault
}

// usableLocked returns ErrClosed after Close, the fault if faulted, or nil.
// s.mu is held.
func (s *Store) usableLocked() error {
	if s.closing {
		return ErrClosed
	}
	if s.fault != nil {
		return s.fault
	}
	return nil
}

// beginOp registers a database operation that Close must wait for before
// closing the connections, and returns the seq it must sync to so that it
// sees every record appended before it. The caller calls s.ops.Done.
func (s *Store) beginOp() (target uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usableLocked(); err != nil {
		return 0, err
	}
	s.ops.Add(1)
	return s.lastSeq, nil
}

// Close stops accepting records, waits until every accepted record is
// committed and in-flight reads have finished, stops the writer goroutine and
// closes the database. It returns the *FaultError if the store faulted (so
// records were lost), and any error from closing the database.
//
// Close is idempotent: the first call does the work, and every later call
// (concurrent ones after the first has finished) does nothing and returns
// ErrClosed, as do all other methods except LastSeq, Stats, Err and Notify.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		s.closeErr = s.close()
	})
	if first {
		return s.closeErr
	}
	return fmt.Errorf("journal: close: %w", ErrClosed)
}

// close implements Close.
func (s *Store) close() error {
	s.mu.Lock()
	s.closing = true
	s.space.Broadcast()
	if s.kick != nil {
		s.kick.Stop()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
	s.ops.Wait()

	var errs []error
	if err := s.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := s.ins.close(); err != nil {
		errs = append(errs, fmt.Errorf("journal: close statements: %w", err))
	}
	if s.rdb != s.wdb {
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("journal: close readers: %w", err))
		}
	}
	if err := s.wdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("journal: close writer: %w", err))
	}
	st := s.Stats()
	s.log.Debug("journal closed",
		zap.String("path", s.path),
		zap.Uint64("appended", st.Appended),
		zap.Uint64("committed", st.Committed),
		zap.Uint64("transactions", st.Transactions))
	return errors.Join(errs...)
}
