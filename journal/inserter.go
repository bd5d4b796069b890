package journal

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// insertChunks are the row counts of the prepared multi-row INSERT
// statements, largest first. A batch is written with as many of the largest
// as fit, then smaller ones, which costs far fewer statement executions than
// one row at a time.
var insertChunks = [...]int{256, 32, 4, 1}

// inserter writes batches of records on the writer connection. It is used
// by whoever holds the committer's role (Store.writing), one at a time.
//
// It drives the driver's connection directly (sql.Conn.Raw), with BEGIN
// IMMEDIATE, the INSERTs and COMMIT prepared once: database/sql's Tx
// compiles BEGIN and COMMIT anew for every transaction and converts every
// argument, which made a 32-record commit about a fifth slower. The
// statements belong to the driver connection they were prepared on; if
// database/sql ever replaces that connection, they are prepared again on the
// new one.
type inserter struct {
	db *sql.DB
	dc any // the driver connection the statements were prepared on

	begin, commitTx, rollback driver.StmtExecContext
	maxSeq                    driver.StmtQueryContext
	stmts                     [len(insertChunks)]driver.StmtExecContext
	args                      []driver.NamedValue

	// Reused between commits: the records of the commit in seq order, the
	// record count of each row (see packRows), the packs' bytes, and
	// compressPack's scratch space.
	recs    []*pending
	rows    []int
	packs   []byte
	scratch []byte

	// written is the bytes of the rows and index entries the last commit
	// wrote, about.
	written int
}

// rowColumns is the number of columns an INSERT sets per row.
const rowColumns = 8

// newInserter returns an inserter for the writer database db (one
// connection). Its statements are prepared by prepare, or at the first
// commit.
func newInserter(db *sql.DB) *inserter {
	ins := &inserter{db: db, args: make([]driver.NamedValue, rowColumns*insertChunks[0])}
	for i := range ins.args {
		ins.args[i].Ordinal = i + 1
	}
	return ins
}

// insertSQL is the INSERT statement of rows records.
func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO records (seq, mob, run, kind, at, data, n, pack) VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// prepare prepares the statements on the driver connection dc, closing
// those of the previous connection.
func (ins *inserter) prepare(ctx context.Context, dc any) error {
	_ = ins.closeStmts()
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("journal: driver connection %T cannot prepare statements", dc)
	}
	prep := func(query string) (driver.StmtExecContext, error) {
		st, err := pc.PrepareContext(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("journal: prepare %.40q: %w", query, err)
		}
		ex, ok := st.(driver.StmtExecContext)
		if !ok {
			_ = st.Close()
			return nil, fmt.Errorf("journal: driver statement %T cannot execute with a context", st)
		}
		return ex, nil
	}
	var err error
	if ins.begin, err = prep("BEGIN IMMEDIATE"); err == nil {
		if ins.commitTx, err = prep("COMMIT"); err == nil {
			ins.rollback, err = prep("ROLLBACK")
		}
	}
	if err == nil {
		var st driver.StmtExecContext
		if st, err = prep("SELECT max(seq) FROM records"); err == nil {
			var ok bool
			if ins.maxSeq, ok = st.(driver.StmtQueryContext); !ok {
				_ = st.(driver.Stmt).Close()
				err = fmt.Errorf("journal: driver statement %T cannot query with a context", st)
			}
		}
	}
	for i := 0; err == nil && i < len(insertChunks); i++ {
		ins.stmts[i], err = prep(insertSQL(insertChunks[i]))
	}
	if err != nil {
		return errors.Join(err, ins.closeStmts())
	}
	ins.dc = dc
	return nil
}

// closeStmts closes the prepared statements.
func (ins *inserter) closeStmts() error {
	var errs []error
	stmts := []any{ins.begin, ins.commitTx, ins.rollback, ins.maxSeq}
	for _, st := range ins.stmts {
		stmts = append(stmts, st)
	}
	for _, st := range stmts {
		if st, ok := st.(driver.Stmt); ok && st != nil {
			if err := st.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	ins.begin, ins.commitTx, ins.rollback, ins.maxSeq, ins.stmts, ins.dc = nil, nil, nil, nil, [len(insertChunks)]driver.StmtExecContext{}, nil
	return errors.Join(errs...)
}

// close closes the prepared statements on their connection.
func (ins *inserter) close() error {
	if ins.dc == nil {
		return nil
	}
	return ins.onConn(context.Background(), "close statements", func(dc any) error {
		if dc != ins.dc {
			// The connection they were prepared on is gone, and they
			// with it.
			ins.dc = nil
			return nil
		}
		return ins.closeStmts()
	})
}

// commit inserts the records of calls in one transaction, packed into
// rows (see packRows). It returns an estimate of the WAL frames (4 KiB
// pages) the transaction wrote: about six pages whatever its size (the last
// leaf pages of the table and of both indexes, the table's last interior
// page, the header page as the file grows), and the bytes of its rows and
// index entries at about 3,000 to a page. Measured: 32 plain rows of 230
// bytes wrote 10.6 frames per transaction.
func (ins *inserter) commit(calls [][]pending) (frames int, err error) {
	ins.recs = ins.recs[:0]
	for _, call := range calls {
		for i := range call {
			ins.recs = append(ins.recs, &call[i])
		}
	}
	ins.rows = packRows(ins.rows[:0], ins.recs)
	defer func() {
		clear(ins.recs) // drop references to the committed records
		if cap(ins.packs) > 4*maxPackBytes {
			ins.packs = nil
		}
		if cap(ins.scratch) > 2*maxPackBytes {
			ins.scratch = nil
		}
	}()
	ctx := context.Background() // a started commit is finished, even by Close
	err = ins.onConn(ctx, "commit", func(dc any) error {
		if dc != ins.dc {
			if err := ins.prepare(ctx, dc); err != nil {
				return err
			}
		}
		return ins.commitOn(ctx)
	})
	if err != nil {
		return 0, err
	}
	return 6 + ins.written/3000, nil
}

// onConn runs f on the writer's driver connection, taken for the time of
// the call; what names the operation in an error.
func (ins *inserter) onConn(ctx context.Context, what string, f func(dc any) error) error {
	conn, err := ins.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("journal: %s: take the writer connection: %w", what, err)
	}
	defer conn.Close()
	return conn.Raw(f)
}

// commitOn inserts ins.recs as ins.rows in one transaction, on the
// connection the statements were prepared on.
func (ins *inserter) commitOn(ctx context.Context) (err error) {
	if _, err := ins.begin.ExecContext(ctx, nil); err != nil {
		return fmt.Errorf("journal: begin write transaction: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		if _, rerr := ins.rollback.ExecContext(ctx, nil); rerr != nil {
			// The connection may still be in the transaction: have
			// database/sql discard it rather than hand it out again.
			err = errors.Join(err, fmt.Errorf("journal: roll back write transaction: %w", rerr), driver.ErrBadConn)
		}
	}()
	if err := ins.checkLastSeq(ctx); err != nil {
		return err
	}
	ins.packs, ins.written = ins.packs[:0], 0
	recs, rows := ins.recs, ins.rows
	for len(rows) > 0 {
		k := 0
		for insertChunks[k] > len(rows) {
			k++
		}
		chunk := insertChunks[k]
		first := recs[0].seq
		args := ins.args[:rowColumns*chunk]
		for r, n := range rows[:chunk] {
			last := recs[n-1]
			a := args[rowColumns*r : rowColumns*(r+1)]
			a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value = int64(last.seq), last.mob, last.run, last.kind, last.at
			a[5].Value, a[6].Value, a[7].Value = nil, int64(n), nil
			ins.written += len(last.kind) + 2*(len(last.mob)+len(last.run)) + 64
			if n == 1 {
				if last.hasData {
					a[5].Value = last.data
					ins.written += len(last.data)
				}
			} else {
				// Earlier packs stay valid if append moves ins.packs.
				start := len(ins.packs)
				ins.packs = appendPack(ins.packs, recs[:n])
				ins.packs = compressPack(ins.packs, start, &ins.scratch)
				a[7].Value = ins.packs[start:len(ins.packs):len(ins.packs)]
				ins.written += len(ins.packs) - start
			}
			recs = recs[n:]
		}
		rows = rows[chunk:]
		_, err := ins.stmts[k].ExecContext(ctx, args)
		for i := range args {
			args[i].Value = nil // drop references to record strings
		}
		if err != nil {
			return fmt.Errorf("journal: insert %d rows of records from seq %d: %w", chunk, first, err)
		}
	}
	if _, err := ins.commitTx.ExecContext(ctx, nil); err != nil {
		return fmt.Errorf("journal: commit %d records: %w", len(ins.recs), err)
	}
	return nil
}

// checkLastSeq fails with ErrForeignWrite unless every record in the
// database has a smaller seq than the first one to be inserted. Rows hold
// seq ranges, which a primary key cannot keep from overlapping: this check
// is what stops a second Store on the same file (unsupported) from
// interleaving its records with this one's.
func (ins *inserter) checkLastSeq(ctx context.Context) error {
	rows, err := ins.maxSeq.QueryContext(ctx, nil)
	if err != nil {
		return fmt.Errorf("journal: read the last seq: %w", err)
	}
	dest := make([]driver.Value, 1)
	err = rows.Next(dest)
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: read the last seq: %w", err)
	}
	first := ins.recs[0].seq
	if last, ok := dest[0].(int64); ok && last >= int64(first) {
		return fmt.Errorf("%w: the database holds seq %d, this store's next is %d", ErrForeignWrite, last, first)
	}
	return nil
}
