package journal_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/journal"
)

// packedFixture appends, in one transaction, runs of records that the
// store packs into rows: 10 of run r1 of mob m, 3 of run r2, 2 of mob m2
// without a run, and 5 more of r1 (after m2's, so a row of their own). Kinds
// alternate between a and b; every third record has no data.
func packedFixture(t *testing.T, s *journal.Store) []journal.Record {
	t.Helper()
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	var want []journal.Record
	add := func(n int, mob, run string) {
		for range n {
			i := len(want) + 1
			r := journal.Record{Mob: mob, Run: run, Kind: []string{"a", "b"}[i%2], At: at.Add(time.Duration(i) * time.Millisecond)}
			if i%3 != 0 {
				r.Data = json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))
			}
			want = append(want, r)
		}
	}
	add(10, "m", "r1")
	add(3, "m", "r2")
	add(2, "m2", "")
	add(5, "m", "r1")
	mustAppend(t, s, want...)
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Seq = uint64(i + 1)
	}
	return want
}

// sameRecords fails unless got are the records of want with the given seqs.
func sameRecords(t *testing.T, what string, got, want []journal.Record, wantSeqs ...uint64) {
	t.Helper()
	if !slices.Equal(seqs(got), wantSeqs) {
		t.Fatalf("%s: seqs %v, want %v", what, seqs(got), wantSeqs)
	}
	for _, r := range got {
		w := want[r.Seq-1]
		if r.Mob != w.Mob || r.Run != w.Run || r.Kind != w.Kind || !r.At.Equal(w.At) || string(r.Data) != string(w.Data) || (r.Data == nil) != (w.Data == nil) {
			t.Fatalf("%s: record %+v, want %+v", what, r, w)
		}
	}
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestPackedRows checks reads of records that were committed packed into
// rows: every filter, a cursor inside a row, limits, and deletion.
func TestPackedRows(t *testing.T) {
	path := tempPath(t)
	s := open(t, path, journal.Options{CommitDelay: time.Hour})
	want := packedFixture(t, s)

	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, records int
	if err := db.QueryRow(`SELECT count(*), sum(n) FROM records`).Scan(&rows, &records); err != nil || rows != 4 || records != 20 {
		t.Fatalf("database has %d rows of %d records (%v), want 4 rows of 20", rows, records, err)
	}

	sameRecords(t, "all", mustRead(t, s, journal.Query{}), want, span(1, 20)...)
	sameRecords(t, "after 4", mustRead(t, s, journal.Query{After: 4}), want, span(5, 20)...)
	sameRecords(t, "after 4, limit 3", mustRead(t, s, journal.Query{After: 4, Limit: 3}), want, 5, 6, 7)
	sameRecords(t, "limit 12", mustRead(t, s, journal.Query{Limit: 12}), want, span(1, 12)...)
	sameRecords(t, "run r1", mustRead(t, s, journal.Query{Mob: "m", Run: "r1"}), want, append(span(1, 10), span(16, 20)...)...)
	sameRecords(t, "run r1 after 9", mustRead(t, s, journal.Query{Mob: "m", Run: "r1", After: 9}), want, 10, 16, 17, 18, 19, 20)
	sameRecords(t, "mob m2", mustRead(t, s, journal.Query{Mob: "m2"}), want, 14, 15)
	sameRecords(t, "kind b after 3", mustRead(t, s, journal.Query{Kinds: []string{"b"}, After: 3}), want, 5, 7, 9, 11, 13, 15, 17, 19)
	sameRecords(t, "kind a, limit 2", mustRead(t, s, journal.Query{Kinds: []string{"a"}, Limit: 2}), want, 2, 4)
	sameRecords(t, "kind c", mustRead(t, s, journal.Query{Kinds: []string{"c"}}), want)
	sameRecords(t, "after the last", mustRead(t, s, journal.Query{After: 20}), want)

	ctx := context.Background()
	if n, err := s.DeleteMob(ctx, "m"); err != nil || n != 18 {
		t.Fatalf("DeleteMob(m) = %d, %v; want 18 records", n, err)
	}
	sameRecords(t, "after DeleteMob", mustRead(t, s, journal.Query{}), want, 14, 15)
	if last := mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"}); last != 21 {
		t.Fatalf("Append after DeleteMob assigned %d, want 21", last)
	}
}

// TestCompressedPack checks that a run's records, which repeat their ids and
// keys, are stored as one compressed pack and read back exactly, and that a
// damaged compressed pack fails reads with ErrCorrupt.
func TestCompressedPack(t *testing.T) {
	path := tempPath(t)
	ctx := context.Background()
	s, err := journal.Open(ctx, path, journal.Options{CommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	var want []journal.Record
	raw := 0
	for i := range 32 {
		r := journal.Record{Mob: "m", Run: "r1", Kind: []string{"step_dispatched", "step_completed"}[i%2], At: at.Add(time.Duration(i) * time.Millisecond),
			Data: json.RawMessage(fmt.Sprintf(`{"flow_id":"chain","step_id":"s%d","member":"worker","session_id":"01a21764-3d05-7c3a-881d-23fdb5cf10fa","key":"01a21764-3d07-7532-b34e-2e579ea5026b/|s%d/worker/1","output":"the quick brown fox"}`, i/2, i/2))}
		raw += len(r.Data)
		want = append(want, r)
	}
	mustAppend(t, s, want...)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Seq = uint64(i + 1)
	}
	sameRecords(t, "all", mustRead(t, s, journal.Query{}), want, span(1, 32)...)
	sameRecords(t, "after 20, kind step_completed", mustRead(t, s, journal.Query{After: 20, Kinds: []string{"step_completed"}}), want, 22, 24, 26, 28, 30, 32)
	sameRecords(t, "run r1, limit 3", mustRead(t, s, journal.Query{Mob: "m", Run: "r1", Limit: 3}), want, 1, 2, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var rows, size int
	var format string
	if err := db.QueryRow(`SELECT count(*), hex(substr(pack, 1, 1)), length(pack) FROM records`).Scan(&rows, &format, &size); err != nil || rows != 1 || format != "02" || size > raw/3 {
		t.Fatalf("database has %d rows, a pack of format %s and %d bytes (%v); want 1 compressed row (02) under %d bytes", rows, format, size, err, raw/3)
	}
	if _, err := db.Exec(`UPDATE records SET pack = substr(pack, 1, length(pack) - 5)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path, journal.Options{})
	if _, err := s.Read(ctx, journal.Query{}); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("Read of the damaged compressed pack: err = %v, want ErrCorrupt", err)
	}
}

// TestCorruptRow checks that a row whose pack cannot be decoded fails the
// reads that reach it with ErrCorrupt, and only those.
func TestCorruptRow(t *testing.T) {
	for _, tc := range []struct {
		name, set string
	}{
		{"truncated", `pack = substr(pack, 1, length(pack) - 1)`},
		{"trailing bytes", `pack = CAST(pack || x'00' AS BLOB)`},
		{"unknown format", `pack = CAST(x'09' || substr(pack, 2) AS BLOB)`},
		{"count too large", `n = 4`},
		{"count too small", `n = 2`},
		{"count past seq 1", `n = 100`},
		{"no pack", `pack = NULL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			ctx := context.Background()
			s, err := journal.Open(ctx, path, journal.Options{CommitDelay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			packedFixture(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			// Run r2's row: seqs 11..13.
			if res, err := db.Exec(`UPDATE records SET ` + tc.set + ` WHERE seq = 13`); err != nil {
				t.Fatal(err)
			} else if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("updated %d rows", n)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, path, journal.Options{})
			if _, err := s.Read(ctx, journal.Query{}); !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("Read over the corrupt row: err = %v, want ErrCorrupt", err)
			}
			if got := mustRead(t, s, journal.Query{Mob: "m2"}); len(got) != 2 {
				t.Fatalf("Read of mob m2 beside the corrupt row: %d records, want 2", len(got))
			}
		})
	}
}

// TestMigrateFromVersion1 opens a database of schema version 1, whose rows
// each hold one record, and checks that its records read back as they were
// and that the store continues after them.
func TestMigrateFromVersion1(t *testing.T) {
	path := tempPath(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_version VALUES (1, 1, 0)`,
		`CREATE TABLE records (seq INTEGER PRIMARY KEY, mob TEXT NOT NULL, run TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL, data TEXT) STRICT`,
		`CREATE INDEX records_by_mob ON records (mob)`,
		`CREATE INDEX records_by_run ON records (run) WHERE run <> ''`,
		`CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT, WITHOUT ROWID`,
		`INSERT INTO records VALUES (1, 'm', '', 'mob_created', 1000, '{"a":1}'), (2, 'm', 'r', 'flow_started', 2000, NULL), (3, 'm', 'r', 'step_completed', 3000, '[]')`,
		`INSERT INTO meta VALUES ('high_water', 5)`, // records 4 and 5 were deleted
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path, journal.Options{CommitDelay: time.Hour})
	want := []journal.Record{
		{Seq: 1, Mob: "m", Kind: "mob_created", At: time.Unix(0, 1000), Data: json.RawMessage(`{"a":1}`)},
		{Seq: 2, Mob: "m", Run: "r", Kind: "flow_started", At: time.Unix(0, 2000)},
		{Seq: 3, Mob: "m", Run: "r", Kind: "step_completed", At: time.Unix(0, 3000), Data: json.RawMessage(`[]`)},
		{Seq: 6, Mob: "m", Run: "r", Kind: "step_dispatched", At: time.Unix(0, 6000)},
		{Seq: 7, Mob: "m", Run: "r", Kind: "flow_completed", At: time.Unix(0, 7000), Data: json.RawMessage(`{}`)},
	}
	if last := mustAppend(t, s, want[3:]...); last != 7 {
		t.Fatalf("Append after the migration assigned up to %d, want 7", last)
	}
	got := mustRead(t, s, journal.Query{Mob: "m", Run: "r"})
	if len(got) != 4 {
		t.Fatalf("read %d records of run r, want 4", len(got))
	}
	for i, r := range got {
		w := want[i+1]
		if r.Seq != w.Seq || r.Mob != w.Mob || r.Run != w.Run || r.Kind != w.Kind || !r.At.Equal(w.At) || string(r.Data) != string(w.Data) {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
	if got := mustRead(t, s, journal.Query{After: 1, Limit: 1}); len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("Read after 1, limit 1 = %v, want seq 2", seqs(got))
	}
}

// TestLargeRecords checks records larger than a pack's bound (a long step
// output), alone and among small ones, compressible or not: each is
// stored and read back whole.
func TestLargeRecords(t *testing.T) {
	ctx := context.Background()
	s, err := journal.Open(ctx, tempPath(t), journal.Options{CommitDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	text := strings.Repeat("a long report of the capital's landmarks; ", 5000) // 210 KB, compresses well
	noise := make([]byte, 150<<10)                                             // does not compress
	for i := range noise {
		noise[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[(i*7919+i/13)%36]
	}
	var want []journal.Record
	for i, data := range []string{`{"output":"small"}`, `{"output":"` + text + `"}`, `{"output":"` + string(noise) + `"}`, `{"output":"small again"}`} {
		want = append(want, journal.Record{Mob: "m", Run: "r1", Kind: "step_completed", At: at.Add(time.Duration(i) * time.Millisecond), Data: json.RawMessage(data)})
	}
	mustAppend(t, s, want...)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Seq = uint64(i + 1)
	}
	sameRecords(t, "all", mustRead(t, s, journal.Query{}), want, span(1, 4)...)
	sameRecords(t, "the long one", mustRead(t, s, journal.Query{After: 1, Limit: 1}), want, 2)
}
