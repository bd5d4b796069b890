package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Read returns the records matching q in Seq order. It sees every record
// appended (by any goroutine) before the call: it first waits for those to be
// committed, then reads from a consistent snapshot, concurrently with the
// writer. It returns ErrClosed after Close, the *FaultError on a faulted
// store, and an error wrapping ErrInvalidQuery for a negative q.Limit.
func (s *Store) Read(ctx context.Context, q Query) ([]Record, error) {
	if q.Limit < 0 {
		return nil, fmt.Errorf("journal: read: %w: negative limit %d", ErrInvalidQuery, q.Limit)
	}
	target, err := s.beginOp()
	if err != nil {
		return nil, fmt.Errorf("journal: read: %w", err)
	}
	defer s.ops.Done()
	if err := s.syncTo(ctx, target); err != nil {
		return nil, fmt.Errorf("journal: read: %w", err)
	}
	if q.After >= math.MaxInt64 {
		return nil, nil // no seq can be greater
	}

	var (
		b     strings.Builder
		args  []any
		where = " WHERE "
	)
	b.WriteString("SELECT seq, mob, run, kind, at, data, n, pack FROM records")
	cond := func(c string, a ...any) {
		b.WriteString(where)
		b.WriteString(c)
		args = append(args, a...)
		where = " AND "
	}
	if q.Mob != "" {
		cond("mob = ?", q.Mob)
	}
	if q.Run != "" {
		cond("run = ? AND run <> ''", q.Run) // the second term lets SQLite use the partial index
	}
	if q.After > 0 {
		// A row's seq is its last record's: the rows that hold records
		// after the cursor.
		cond("seq > ?", int64(q.After))
	}
	if len(q.Kinds) > 0 {
		// A pack's kind column is only its last record's kind; its records
		// are filtered below.
		cond("(n > 1 OR kind IN (?" + strings.Repeat(",?", len(q.Kinds)-1) + "))")
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	// No LIMIT: a row may hold several records, and the rows are read
	// lazily, so the scan stops once enough records have been read.
	b.WriteString(" ORDER BY seq")

	rows, err := s.rdb.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("journal: read: %w", err)
	}
	defer rows.Close()
	var out []Record
	if q.Limit > 0 {
		out = make([]Record, 0, min(q.Limit, 1024))
	}
	full := func() bool { return q.Limit > 0 && len(out) >= q.Limit }
	for !full() && rows.Next() {
		var (
			r          Record
			seq, at, n int64
			data, pack []byte
		)
		if err := rows.Scan(&seq, &r.Mob, &r.Run, &r.Kind, &at, &data, &n, &pack); err != nil {
			return nil, fmt.Errorf("journal: read: scan: %w", err)
		}
		if n == 1 {
			r.Seq = uint64(seq)
			r.At = time.Unix(0, at).UTC()
			if data != nil {
				r.Data = data
			}
			out = append(out, r)
			continue
		}
		if n < 1 || n > seq {
			return nil, fmt.Errorf("journal: read: %w: row %d holds %d records", ErrCorrupt, seq, n)
		}
		next := uint64(seq - n + 1)
		err := decodePack(pack, int(n), func(kind string, at int64, data []byte) {
			r.Seq, r.Kind, r.At, r.Data = next, kind, time.Unix(0, at).UTC(), data
			next++
			if r.Seq > q.After && (len(q.Kinds) == 0 || slices.Contains(q.Kinds, kind)) && !full() {
				out = append(out, r)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("journal: read: %w: row %d: %w", ErrCorrupt, seq, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: read: %w", err)
	}
	return out, nil
}

// Mobs returns the distinct ids of the mobs that have records, sorted. Like
// Read, it sees every record appended before the call.
func (s *Store) Mobs(ctx context.Context) ([]string, error) {
	target, err := s.beginOp()
	if err != nil {
		return nil, fmt.Errorf("journal: mobs: %w", err)
	}
	defer s.ops.Done()
	if err := s.syncTo(ctx, target); err != nil {
		return nil, fmt.Errorf("journal: mobs: %w", err)
	}
	// A loose index scan: one index seek per distinct mob instead of a
	// walk over every record.
	rows, err := s.rdb.QueryContext(ctx, `
		WITH RECURSIVE m(mob) AS (
			SELECT min(mob) FROM records
			UNION ALL
			SELECT (SELECT min(mob) FROM records WHERE records.mob > m.mob) FROM m WHERE m.mob IS NOT NULL
		)
		SELECT mob FROM m WHERE mob IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("journal: mobs: %w", err)
	}
	defer rows.Close()
	var mobs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("journal: mobs: scan: %w", err)
		}
		mobs = append(mobs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: mobs: %w", err)
	}
	return mobs, nil
}

// DeleteMob removes every record of mob (when the mob is destroyed) and
// returns how many it removed. Records of mob appended before the call are
// committed first and deleted with the rest; records of mob appended
// concurrently may or may not be deleted; ones appended after it returns are
// kept. The seqs of deleted records are never assigned again. It does not
// fault the store on error. It returns ErrClosed after Close, the
// *FaultError on a faulted store, and an error wrapping ErrInvalidQuery for
// an empty mob.
func (s *Store) DeleteMob(ctx context.Context, mob string) (n int, err error) {
	if mob == "" {
		return 0, fmt.Errorf("journal: delete mob: %w: empty mob id", ErrInvalidQuery)
	}
	target, err := s.beginOp()
	if err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: %w", mob, err)
	}
	defer s.ops.Done()
	if err := s.syncTo(ctx, target); err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: %w", mob, err)
	}

	// The writer connection: taking it waits for the writer's current
	// transaction, and BEGIN IMMEDIATE holds off any other.
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: begin: %w", mob, err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("journal: delete mob %q: roll back: %w", mob, rerr))
			}
		}
	}()
	// Remember the highest seq before it might be deleted, so that a reopen
	// continues after it.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO meta (key, value)
		SELECT 'high_water', coalesce(max(seq), 0) FROM records WHERE true
		ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`); err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: save high water: %w", mob, err)
	}
	var deleted int64 // records, not rows
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM records WHERE mob = ?`, mob).Scan(&deleted); err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: count: %w", mob, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE mob = ?`, mob); err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: %w", mob, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("journal: delete mob %q: commit: %w", mob, err)
	}
	return int(deleted), nil
}
