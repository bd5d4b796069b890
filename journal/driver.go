package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// driverName is the database/sql name modernc.org/sqlite registers.
const driverName = "sqlite"

// memoryPath is the path that selects a private in-memory database.
const memoryPath = ":memory:"

// busyTimeout is how long a connection waits for a lock held by another
// connection before failing with SQLITE_BUSY. Our own connections only contend
// briefly (checkpoints, DeleteMob against the writer), so this is generous.
const busyTimeout = 10 * time.Second

// maxReaders bounds the read connection pool of a file database.
const maxReaders = 4

// dsnFor returns the data source name that opens path with the given driver
// parameters (see the modernc.org/sqlite Driver.Open documentation).
//
// A file path is turned into an absolute "file:" URI with the path
// percent-escaped, so paths containing '?', '#' or '%' cannot be mistaken for
// parameters. ":memory:" stays a plain name: the driver strips the query from
// plain names after reading its own parameters, and SQLite then opens a
// private in-memory database.
func dsnFor(path string, params url.Values) (string, error) {
	q := params.Encode()
	if path == memoryPath {
		return memoryPath + "?" + q, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("journal: resolve path %q: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter: file:/C:/dir/x.db
	}
	u := url.URL{Path: p}
	return "file:" + u.EscapedPath() + "?" + q, nil
}

// writerParams are the connection parameters of the writer connection: it
// owns the journal mode, durability level and takes the write lock at BEGIN
// (BEGIN IMMEDIATE), so a transaction never has to upgrade a read lock.
func writerParams(synchronous string, memory bool) url.Values {
	v := url.Values{}
	v.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	if !memory {
		v.Set("_journal_mode", "WAL")
		// The writer goroutine checkpoints (see Store.checkpoint).
		v.Add("_pragma", "wal_autocheckpoint(0)")
	}
	v.Set("_synchronous", synchronous)
	v.Set("_txlock", "immediate")
	return v
}

// readerParams are the connection parameters of read connections: read only,
// so a bug cannot turn a reader into a second writer.
func readerParams() url.Values {
	v := url.Values{}
	v.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	v.Set("_query_only", "1")
	return v
}

// openDBs opens the writer pool (exactly one connection, kept open for the
// life of the Store) and the reader pool. For ":memory:" both are the same
// single-connection pool, since every connection to ":memory:" would be a
// different database.
func openDBs(ctx context.Context, path, synchronous string) (w, r *sql.DB, err error) {
	memory := path == memoryPath
	wdsn, err := dsnFor(path, writerParams(synchronous, memory))
	if err != nil {
		return nil, nil, err
	}
	w, err = sql.Open(driverName, wdsn)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: open %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		return nil, nil, closeOnErr(fmt.Errorf("journal: open %q: %w", path, err), w)
	}
	if memory {
		return w, w, nil
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, nil, closeOnErr(fmt.Errorf("journal: open %q: read journal mode: %w", path, err), w)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, nil, closeOnErr(fmt.Errorf("journal: open %q: journal mode is %q, want wal (does the file system support shared memory?)", path, mode), w)
	}

	rdsn, err := dsnFor(path, readerParams())
	if err != nil {
		return nil, nil, closeOnErr(err, w)
	}
	r, err = sql.Open(driverName, rdsn)
	if err != nil {
		return nil, nil, closeOnErr(fmt.Errorf("journal: open %q for reading: %w", path, err), w)
	}
	r.SetMaxOpenConns(maxReaders)
	r.SetMaxIdleConns(maxReaders)
	if err := r.PingContext(ctx); err != nil {
		return nil, nil, closeOnErr(fmt.Errorf("journal: open %q for reading: %w", path, err), r, w)
	}
	return w, r, nil
}

// closeOnErr closes dbs after a failed open and returns err, joined with any
// close error so that nothing is swallowed.
func closeOnErr(err error, dbs ...*sql.DB) error {
	for _, db := range dbs {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("journal: close after failed open: %w", cerr))
		}
	}
	return err
}
