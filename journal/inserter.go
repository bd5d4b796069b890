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
	stmts                     [len(insertChunks)]driver.StmtExecContext
	args                      []driver.NamedValue
}

// newInserter returns an inserter for the writer database db (one
// connection). Its statements are prepared by prepare, or at the first
// commit.
func newInserter(db *sql.DB) *inserter {
	ins := &inserter{db: db, args: make([]driver.NamedValue, 6*insertChunks[0])}
	for i := range ins.args {
		ins.args[i].Ordinal = i + 1
	}
	return ins
}

// insertSQL is the INSERT statement of rows records.
func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO records (seq, mob, run, kind, at, data) VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?)")
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
	for _, st := range append([]driver.StmtExecContext{ins.begin, ins.commitTx, ins.rollback}, ins.stmts[:]...) {
		if st == nil {
			continue
		}
		if err := st.(driver.Stmt).Close(); err != nil {
			errs = append(errs, err)
		}
	}
	ins.begin, ins.commitTx, ins.rollback, ins.stmts, ins.dc = nil, nil, nil, [len(insertChunks)]driver.StmtExecContext{}, nil
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

// commit inserts the n records of calls in one transaction.
func (ins *inserter) commit(calls [][]pending, n int) error {
	ctx := context.Background() // a started commit is finished, even by Close
	return ins.onConn(ctx, "commit", func(dc any) error {
		if dc != ins.dc {
			if err := ins.prepare(ctx, dc); err != nil {
				return err
			}
		}
		return ins.commitOn(ctx, calls, n)
	})
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

// commitOn is commit on the connection the statements were prepared on.
func (ins *inserter) commitOn(ctx context.Context, calls [][]pending, n int) (err error) {
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
	ci, ri := 0, 0 // next record: calls[ci][ri]
	for left := n; left > 0; {
		k := 0
		for insertChunks[k] > left {
			k++
		}
		rows := insertChunks[k]
		first := calls[ci][ri].seq
		args := ins.args[:6*rows]
		for r := range rows {
			p := &calls[ci][ri]
			a := args[6*r : 6*r+6]
			a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value = int64(p.seq), p.mob, p.run, p.kind, p.at
			a[5].Value = nil
			if p.hasData {
				a[5].Value = p.data
			}
			if ri++; ri == len(calls[ci]) {
				ci, ri = ci+1, 0
			}
		}
		_, err := ins.stmts[k].ExecContext(ctx, args)
		for i := range args {
			args[i].Value = nil // drop references to record strings
		}
		if err != nil {
			return fmt.Errorf("journal: insert %d records from seq %d: %w", rows, first, err)
		}
		left -= rows
	}
	if _, err := ins.commitTx.ExecContext(ctx, nil); err != nil {
		return fmt.Errorf("journal: commit %d records: %w", n, err)
	}
	return nil
}
