// Package journal is mobd's durable, append-only event journal, on embedded
// SQLite (modernc.org/sqlite: pure Go, no cgo).
//
// Everything that happens to a mob is a [Record]. The mob layer is event
// sourced: after a restart, even one forced by SIGKILL, it replays the journal
// to rebuild its state and resume running flows. The same log serves
// subscribers that resume from a cursor (a [Record.Seq]).
//
// # Writing
//
// [Store.Append] validates records, assigns each a store-wide, strictly
// increasing Seq and queues them; it does not wait for I/O. A commit takes
// everything queued so far into one transaction (group commit), so its cost
// is shared by all records that were waiting for it. The store's writer
// goroutine commits queued records Options.CommitDelay after the first of
// them arrived. [Store.Sync] and [Store.AppendSync] wait until records are
// committed: when no commit is in progress they commit the queue themselves,
// on the caller's goroutine, so a durable append costs no hand-off to the
// writer and back. A commit stores consecutive records of one mob and run
// in one row of the database (a pack), which costs SQLite about as much as
// one record: a flow run's records, appended one by one, are committed
// together in a row or a few, compressed when that pays (about sixfold for
// a flow run). One commit runs at a time. The store checkpoints the WAL
// itself, on the writer goroutine right after the commit that took it past
// about 1,000 pages (SQLite's automatic checkpoints, which would make that
// commit wait for the copy and its fsyncs, are off); only a commit asked for
// during a checkpoint waits for it. Guarantees:
//
//   - Seq order is commit order: a record is never committed before a record
//     with a smaller Seq, so the records present after a crash are always a
//     gapless prefix 1..n of what was appended (minus deleted mobs).
//   - The records of one Append call are committed in one transaction, so a
//     crash keeps all of them or none.
//   - A record is durable against a process crash (kill -9) once Sync or
//     AppendSync covering it has returned nil. With Options.Synchronous
//     "NORMAL" (the default, WAL mode) a power loss or OS crash may lose the
//     most recent commits, never corrupt older ones; "FULL" makes every commit
//     durable against those too, at the cost of an fsync per transaction.
//   - A committed Seq is never assigned again, not even after
//     [Store.DeleteMob] removed the newest records and the store was
//     reopened. (Seqs assigned to records that a crash lost before they were
//     committed are assigned again after the reopen; no reader can have seen
//     them, since reads only return committed records.)
//
// If a write fails, the store is faulted: the error is sticky (see
// [Store.Err] and [FaultError]), every later Append, Sync, Read, Mobs and
// DeleteMob reports it, and records accepted but not committed are counted in
// the error and logged. Reopen the store to recover.
//
// # Reading
//
// [Store.Read] sees every record appended before the call and returns records
// in Seq order, filtered by [Query]. Reads run on their own connections, so
// they proceed concurrently with the writer (SQLite WAL). A live subscriber
// does not poll; it loops:
//
//	for {
//		wake := s.Notify() // before the read, so no commit is missed
//		recs, err := s.Read(ctx, journal.Query{Mob: mob, After: cursor})
//		if err != nil {
//			return err
//		}
//		if len(recs) > 0 {
//			cursor = recs[len(recs)-1].Seq
//			deliver(recs)
//			continue
//		}
//		select {
//		case <-wake:
//		case <-ctx.Done():
//			return ctx.Err()
//		}
//	}
//
// # Files
//
// One Store owns a database file; opening the same file with a second Store,
// in this process or another, is not supported (the second store's writes
// collide on Seq and fault it). The path ":memory:" opens a private in-memory
// database that disappears with the Store.
package journal
