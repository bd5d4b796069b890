package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SchemaVersion is the version of the on-disk schema this package writes.
// Open migrates older databases up to it and refuses newer ones with
// [ErrSchemaTooNew].
const SchemaVersion = 3

// migrations[i] migrates a database from schema version i to i+1. Each runs,
// together with the version bump, in one transaction. Append only: never edit
// a migration that has shipped.
var migrations = [][]string{
	// 0 -> 1: the initial schema.
	{
		// seq is the rowid, so a lookup or range scan by seq is a b-tree
		// search, and every index below implicitly ends in seq: the
		// (mob) index yields a mob's records in seq order without a sort.
		`CREATE TABLE records (
			seq  INTEGER PRIMARY KEY,
			mob  TEXT    NOT NULL,
			run  TEXT    NOT NULL,
			kind TEXT    NOT NULL,
			at   INTEGER NOT NULL, -- Unix time in nanoseconds
			data TEXT              -- opaque JSON as given, NULL when absent
		) STRICT`,
		`CREATE INDEX records_by_mob ON records (mob)`,
		// Mob-level records (run = '') are never looked up by run, so they
		// stay out of this index. Queries repeat the WHERE term verbatim so
		// the planner can use it.
		`CREATE INDEX records_by_run ON records (run) WHERE run <> ''`,
		// Store-wide counters. high_water is the highest seq ever committed,
		// kept by DeleteMob so that seqs are not reused after the newest
		// records were deleted.
		`CREATE TABLE meta (
			key   TEXT PRIMARY KEY,
			value INTEGER NOT NULL
		) STRICT, WITHOUT ROWID`,
	},
	// 1 -> 2: packed rows (see pack.go). A row's seq becomes the seq of
	// its last record; the rows written so far hold one record each.
	{
		`ALTER TABLE records ADD COLUMN n INTEGER NOT NULL DEFAULT 1`,
		`ALTER TABLE records ADD COLUMN pack BLOB`,
	},
	// 2 -> 3: packs may be compressed (see pack.go). The tables do not
	// change; the version tells an older program, which could not read
	// those packs, to refuse the database.
	{},
}

// schemaTable records the schema version. It is created outside the
// migrations, by every Open, so that the version can always be read.
const schemaTable = `CREATE TABLE IF NOT EXISTS schema_version (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	version    INTEGER NOT NULL,
	updated_at INTEGER NOT NULL -- Unix time in nanoseconds
) STRICT`

// ErrSchemaTooNew is returned by Open for a database written by a newer
// version of this package, whose schema it does not know.
var ErrSchemaTooNew = errors.New("journal: database schema is newer than this program supports")

// migrate brings the schema of db up to SchemaVersion in one transaction and
// returns the version found before migrating (0 for a new database).
func migrate(ctx context.Context, db *sql.DB, now int64) (from int, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("journal: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("journal: migrate: rollback: %w", rerr))
			}
		}
	}()
	if _, err := tx.ExecContext(ctx, schemaTable); err != nil {
		return 0, fmt.Errorf("journal: migrate: create schema_version: %w", err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE id = 1`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		v = 0
	case err != nil:
		return 0, fmt.Errorf("journal: migrate: read schema version: %w", err)
	}
	from = v
	if v > SchemaVersion {
		return from, fmt.Errorf("%w: database has version %d, this program knows up to %d", ErrSchemaTooNew, v, SchemaVersion)
	}
	if v == SchemaVersion {
		if err := tx.Commit(); err != nil {
			return from, fmt.Errorf("journal: migrate: commit: %w", err)
		}
		return from, nil
	}
	for ; v < SchemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return from, fmt.Errorf("journal: migrate %d -> %d: %w", v, v+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (id, version, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
		SchemaVersion, now); err != nil {
		return from, fmt.Errorf("journal: migrate: write schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return from, fmt.Errorf("journal: migrate: commit: %w", err)
	}
	return from, nil
}

// highWater returns the highest seq ever committed to db: the larger of the
// greatest seq present and the high-water mark DeleteMob left behind.
func highWater(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (uint64, error) {
	var hw int64
	err := q.QueryRowContext(ctx, `SELECT max(
		coalesce((SELECT max(seq) FROM records), 0),
		coalesce((SELECT value FROM meta WHERE key = 'high_water'), 0))`).Scan(&hw)
	if err != nil {
		return 0, fmt.Errorf("journal: read last seq: %w", err)
	}
	if hw < 0 {
		return 0, fmt.Errorf("journal: read last seq: negative seq %d in database", hw)
	}
	return uint64(hw), nil
}
