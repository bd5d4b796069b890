package journal

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// run is the writer goroutine, started by Open. Whenever records are due
// (see dueLocked) and nobody is committing, it takes everything queued and
// commits it in as few transactions as MaxBatch allows (group commit). It
// returns once Close has been called and the queue is drained, or the store
// has faulted.
func (s *Store) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for !s.stopped && !s.ckptNow && (s.writing || !s.dueLocked()) {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.stopped { // a write by a Sync caller failed
			s.mu.Unlock()
			return
		}
		if s.ckptNow { // the committer handed its role over for this
			s.mu.Unlock()
			s.checkpoint()
			s.mu.Lock()
			s.ckptNow, s.walFrames, s.writing = false, 0, false
			s.mu.Unlock()
			continue // Sync callers that waited count in dueLocked
		}
		if len(s.queue) == 0 { // closing, and everything is committed
			s.stopLocked()
			s.mu.Unlock()
			return
		}
		calls := s.takeLocked()
		s.mu.Unlock()
		if !s.commitTaken(calls) {
			return
		}
	}
}

// dueLocked reports whether the writer goroutine should commit now: records
// are queued and their CommitDelay is over (or there is none, or MaxBatch
// records are pending), or the store is closing. s.mu is held.
func (s *Store) dueLocked() bool {
	if s.closing {
		return true
	}
	return len(s.queue) > 0 && (s.syncing > 0 || s.pendingN >= s.maxBatch || s.kick == nil || s.kickFired)
}

// takeLocked makes the caller the committer (s.writing) and hands it the
// queued calls. Only one committer runs at a time, and each takes the whole
// queue, so records are committed in seq order. s.mu is held and s.writing
// is false.
func (s *Store) takeLocked() [][]pending {
	s.writing = true
	if s.kick != nil {
		s.kick.Stop()
		s.kick, s.kickFired = nil, false
	}
	calls := s.queue
	s.queue, s.spare = s.spare, nil
	return calls
}

// commitTaken commits calls taken with takeLocked and gives up the
// committer's role. It reports false if a write failed: the store is then
// faulted and stopped.
func (s *Store) commitTaken(calls [][]pending) bool {
	if failed, err := s.writeCalls(calls); err != nil {
		s.faulted(err, calls[failed][0].seq)
		s.poke() // the writer goroutine returns
		return false
	}
	clear(calls) // drop references to the committed records
	s.mu.Lock()
	if cap(calls) <= 4*s.maxBatch { // do not keep a burst-sized buffer forever
		s.spare = calls[:0]
	}
	if s.walFrames >= checkpointFrames {
		// The writer goroutine takes over s.writing for the checkpoint.
		s.ckptNow = true
		s.mu.Unlock()
		s.poke()
		return true
	}
	s.writing = false
	// The writer goroutine may have been woken while this commit ran, and
	// gone back to sleep because of it.
	wake := s.dueLocked()
	s.mu.Unlock()
	if wake {
		s.poke()
	}
	return true
}

// writeCalls commits calls, in order, in transactions of at most MaxBatch
// records that never split a call. After each transaction it publishes the
// progress. On error, it returns the index of the first call not committed:
// the failed transaction's and all later calls are not.
func (s *Store) writeCalls(calls [][]pending) (failed int, err error) {
	i := 0
	for i < len(calls) {
		n, j := len(calls[i]), i+1
		for j < len(calls) && n+len(calls[j]) <= s.maxBatch {
			n += len(calls[j])
			j++
		}
		frames, err := s.ins.commit(calls[i:j])
		if err != nil {
			return i, err
		}
		last := calls[j-1][len(calls[j-1])-1].seq

		s.mu.Lock()
		s.committed = last
		s.pendingN -= n
		s.stats.Committed += uint64(n)
		s.stats.Transactions++
		if s.rdb != s.wdb { // a file store: count its WAL growth
			s.walFrames += frames
		}
		if s.commitUsed {
			close(s.commitCh)
			s.commitCh = make(chan struct{})
			s.commitUsed = false
		}
		s.space.Broadcast()
		s.mu.Unlock()
		i = j
	}
	return 0, nil
}

// faulted makes the failed write err the store's sticky error, discards
// what can no longer be committed, and stops the store. firstLost is the
// first seq that was not committed.
func (s *Store) faulted(err error, firstLost uint64) {
	s.mu.Lock()
	f := &FaultError{Cause: err, Lost: uint64(s.pendingN)}
	if f.Lost > 0 {
		f.FirstLost, f.LastLost = firstLost, s.lastSeq
	}
	s.fault = f
	s.queue = nil
	s.pendingN = 0
	s.stopLocked()
	s.mu.Unlock()
	s.log.Error("journal write failed; store faulted, accepted records lost",
		zap.String("path", s.path),
		zap.Error(err),
		zap.Uint64("lost", f.Lost),
		zap.Uint64("first_lost_seq", f.FirstLost),
		zap.Uint64("last_lost_seq", f.LastLost))
}

// stopLocked marks the writer stopped and wakes everyone waiting on it.
// s.mu is held.
func (s *Store) stopLocked() {
	s.stopped = true
	close(s.commitCh) // kept closed: Notify after the stop returns at once
	s.commitUsed = false
	s.space.Broadcast()
}

// checkpointFrames is about how many WAL frames (pages) the commits write
// between two checkpoints: SQLite's own automatic checkpoint threshold.
const checkpointFrames = 1000

// checkpoint copies the WAL into the database file. The writer goroutine
// runs it right after a commit took the WAL past checkpointFrames, while it
// holds s.writing: no commit runs concurrently, so the checkpoint completes
// and the next commit restarts the WAL from its start, which keeps the WAL
// file near SQLite's default size.
//
// SQLite would checkpoint by itself inside the commit that crosses the
// threshold, so one commit in about a hundred paid for the copy and its
// fsyncs (a 32-record commit: p50 0.13 ms, p99 4.5 ms; that 1% was a
// quarter of all commit time). The writer connection has automatic
// checkpoints off; here the crossing commit is published first, and only a
// commit asked for during the checkpoint waits for it. A failed checkpoint
// is logged, not fatal: the WAL grows until a later one succeeds.
func (s *Store) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	var busy, frames, copied int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		s.log.Warn("journal checkpoint failed; the WAL grows until one succeeds", zap.String("path", s.path), zap.Error(err))
		return
	}
	s.log.Debug("journal checkpoint", zap.Int("wal_frames", frames), zap.Int("copied", copied), zap.Bool("busy", busy != 0))
}

// checkpointTimeout bounds one checkpoint.
const checkpointTimeout = time.Minute
