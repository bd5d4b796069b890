package journal_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/mobd-dev/mobd/journal"
)

// open opens a store at path (":memory:" or a file) and closes it at the end
// of the test.
func open(t testing.TB, path string, opts journal.Options) *journal.Store {
	t.Helper()
	if opts.Logger == nil {
		if tt, ok := t.(*testing.T); ok {
			opts.Logger = zaptest.NewLogger(tt, zaptest.Level(zap.WarnLevel))
		}
	}
	s, err := journal.Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// tempPath returns a database path in a fresh temporary directory.
func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "journal.db")
}

// backends runs f against an in-memory and a file store.
func backends(t *testing.T, f func(t *testing.T, path string)) {
	t.Run("memory", func(t *testing.T) { f(t, ":memory:") })
	t.Run("file", func(t *testing.T) { f(t, tempPath(t)) })
}

func mustAppend(t testing.TB, s *journal.Store, recs ...journal.Record) uint64 {
	t.Helper()
	last, err := s.Append(recs...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return last
}

func mustRead(t testing.TB, s *journal.Store, q journal.Query) []journal.Record {
	t.Helper()
	recs, err := s.Read(context.Background(), q)
	if err != nil {
		t.Fatalf("Read(%+v): %v", q, err)
	}
	return recs
}

func seqs(recs []journal.Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func TestAppendRead(t *testing.T) {
	backends(t, func(t *testing.T, path string) {
		s := open(t, path, journal.Options{})
		// seq: 1..8
		in := []journal.Record{
			{Mob: "a", Kind: "mob_created"},
			{Mob: "a", Run: "r1", Kind: "flow_started"},
			{Mob: "b", Kind: "mob_created"},
			{Mob: "a", Run: "r1", Kind: "step_dispatched", Data: json.RawMessage(`{"step":"s1"}`)},
			{Mob: "a", Run: "r1", Kind: "step_completed", Data: json.RawMessage(`{"step":"s1","out":[1,2]}`)},
			{Mob: "b", Run: "r2", Kind: "flow_started"},
			{Mob: "a", Run: "r3", Kind: "flow_started"},
			{Mob: "b", Run: "r2", Kind: "step_completed", Data: json.RawMessage(`"done"`)},
		}
		if last := mustAppend(t, s, in[:3]...); last != 3 {
			t.Fatalf("first Append returned %d, want 3", last)
		}
		for _, r := range in[3:] {
			mustAppend(t, s, r)
		}
		if got := s.LastSeq(); got != 8 {
			t.Fatalf("LastSeq = %d, want 8", got)
		}

		tests := []struct {
			name string
			q    journal.Query
			want []uint64
		}{
			{"all", journal.Query{}, []uint64{1, 2, 3, 4, 5, 6, 7, 8}},
			{"mob", journal.Query{Mob: "a"}, []uint64{1, 2, 4, 5, 7}},
			{"run", journal.Query{Run: "r1"}, []uint64{2, 4, 5}},
			{"mob and run", journal.Query{Mob: "b", Run: "r2"}, []uint64{6, 8}},
			{"mob and foreign run", journal.Query{Mob: "a", Run: "r2"}, nil},
			{"after", journal.Query{After: 5}, []uint64{6, 7, 8}},
			{"after last", journal.Query{After: 8}, nil},
			{"after huge", journal.Query{After: 1<<64 - 1}, nil},
			{"kinds", journal.Query{Kinds: []string{"flow_started", "mob_created"}}, []uint64{1, 2, 3, 6, 7}},
			{"kind", journal.Query{Kinds: []string{"step_completed"}}, []uint64{5, 8}},
			{"limit", journal.Query{Limit: 3}, []uint64{1, 2, 3}},
			{"mob after limit", journal.Query{Mob: "a", After: 2, Limit: 2}, []uint64{4, 5}},
			{"everything", journal.Query{Mob: "a", Run: "r1", After: 2, Kinds: []string{"step_completed", "x"}, Limit: 10}, []uint64{5}},
			{"unknown mob", journal.Query{Mob: "zzz"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := mustRead(t, s, tt.q)
				if !slices.Equal(seqs(got), tt.want) {
					t.Fatalf("Read(%+v) seqs = %v, want %v", tt.q, seqs(got), tt.want)
				}
				for _, r := range got {
					w := in[r.Seq-1]
					if r.Mob != w.Mob || r.Run != w.Run || r.Kind != w.Kind || string(r.Data) != string(w.Data) {
						t.Errorf("record %d = %+v, want %+v", r.Seq, r, w)
					}
				}
			})
		}

		if _, err := s.Read(context.Background(), journal.Query{Limit: -1}); !errors.Is(err, journal.ErrInvalidQuery) {
			t.Errorf("Read with negative limit: err = %v, want ErrInvalidQuery", err)
		}
		mobs, err := s.Mobs(context.Background())
		if err != nil {
			t.Fatalf("Mobs: %v", err)
		}
		if !slices.Equal(mobs, []string{"a", "b"}) {
			t.Errorf("Mobs = %q, want [a b]", mobs)
		}
	})
}

func TestRecordFields(t *testing.T) {
	fixed := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	s := open(t, ":memory:", journal.Options{Now: func() time.Time { return fixed }})
	loc := time.FixedZone("X", 3*3600)
	given := time.Date(2024, 1, 2, 3, 4, 5, 987654321, loc)
	payload := json.RawMessage("{ \"keep\" :  [1, 2.50, \"\\u00e9\"] }\n")

	in := []journal.Record{
		{Seq: 999, Mob: "m", Kind: "k"}, // Seq is ignored, At defaults to Now
		{Mob: "m", Kind: "k", At: given, Data: payload},
		{Mob: "m", Kind: "k", Data: json.RawMessage(`null`)},
		{Mob: "m", Kind: "k", Data: json.RawMessage(`{"é":"日本"}`)},
	}
	orig := slices.Clone(in)
	mustAppend(t, s, in...)
	if !slices.EqualFunc(in, orig, func(a, b journal.Record) bool { return a.Seq == b.Seq && a.At.Equal(b.At) }) {
		t.Errorf("Append modified its argument: %+v", in)
	}
	payload[2] = 'X' // Append copied the payload

	got := mustRead(t, s, journal.Query{})
	if len(got) != len(in) {
		t.Fatalf("read %d records, want %d", len(got), len(in))
	}
	if got[0].Seq != 1 || !got[0].At.Equal(fixed) || got[0].At.Location() != time.UTC || got[0].Data != nil {
		t.Errorf("record 1 = %+v, want seq 1, At %v UTC, nil data", got[0], fixed)
	}
	if !got[1].At.Equal(given) || got[1].At.Location() != time.UTC {
		t.Errorf("record 2 At = %v, want %v in UTC", got[1].At, given)
	}
	if want := "{ \"keep\" :  [1, 2.50, \"\\u00e9\"] }\n"; string(got[1].Data) != want {
		t.Errorf("record 2 Data = %q, want %q byte for byte", got[1].Data, want)
	}
	if string(got[2].Data) != "null" || string(got[3].Data) != `{"é":"日本"}` {
		t.Errorf("records 3, 4 Data = %q, %q", got[2].Data, got[3].Data)
	}
	b, err := json.Marshal(got[1])
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var back journal.Record
	if err := json.Unmarshal(b, &back); err != nil || back.Seq != 2 || back.Mob != "m" {
		t.Errorf("JSON round trip: %s -> %+v, %v", b, back, err)
	}
}

func TestInvalidRecords(t *testing.T) {
	s := open(t, ":memory:", journal.Options{})
	mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"})
	tests := []struct {
		name string
		rec  journal.Record
	}{
		{"empty mob", journal.Record{Kind: "k"}},
		{"empty kind", journal.Record{Mob: "m"}},
		{"bad json", journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(`{"a":`)}},
		{"empty non-nil data", journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage{}}},
		{"two values", journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(`1 2`)}},
		{"NUL in mob", journal.Record{Mob: "m\x00", Kind: "k"}},
		{"time too early", journal.Record{Mob: "m", Kind: "k", At: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"time too late", journal.Record{Mob: "m", Kind: "k", At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The invalid record comes second: nothing of the call is accepted.
			_, err := s.Append(journal.Record{Mob: "ok", Kind: "k"}, tt.rec)
			if !errors.Is(err, journal.ErrInvalidRecord) {
				t.Fatalf("Append(%+v): err = %v, want ErrInvalidRecord", tt.rec, err)
			}
			if s.LastSeq() != 1 || s.Stats().Appended != 1 {
				t.Fatalf("after rejected Append: LastSeq %d, Stats %+v; want 1 record", s.LastSeq(), s.Stats())
			}
		})
	}
	if got := mustRead(t, s, journal.Query{}); len(got) != 1 {
		t.Fatalf("read %d records, want 1", len(got))
	}
	if s.Err() != nil {
		t.Fatalf("Err = %v after invalid records, want nil", s.Err())
	}
	if last, err := s.Append(); err != nil || last != 1 {
		t.Fatalf("Append() = %d, %v; want 1, nil", last, err)
	}
}

// A record whose Data the caller promises valid is stored as given,
// unchecked; Read does not report the promise back.
func TestDataValid(t *testing.T) {
	s := open(t, ":memory:", journal.Options{})
	mustAppend(t, s,
		journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(`{"a":[1,2]}`), DataValid: true},
		journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(`{"a":`), DataValid: true})
	got := mustRead(t, s, journal.Query{})
	if len(got) != 2 || string(got[0].Data) != `{"a":[1,2]}` || string(got[1].Data) != `{"a":` || got[0].DataValid || got[1].DataValid {
		t.Fatalf("read %+v", got)
	}
	if _, err := s.Append(journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage{}, DataValid: true}); !errors.Is(err, journal.ErrInvalidRecord) {
		t.Fatalf("empty non-nil Data with DataValid: err = %v, want ErrInvalidRecord", err)
	}
}

func TestReopenContinuesSeq(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with space?#%", "j.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	s1, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for i := range 10 {
		mustAppend(t, s1, journal.Record{Mob: fmt.Sprintf("m%d", i%2), Kind: "k", Data: json.RawMessage(fmt.Sprint(i))})
	}
	if err := s1.Close(); err != nil { // Close flushes without Sync
		t.Fatalf("Close: %v", err)
	}

	if _, err := os.Stat(path); err != nil { // the name was not mangled
		t.Fatalf("database file: %v", err)
	}
	s2 := open(t, path, journal.Options{})
	if got := s2.LastSeq(); got != 10 {
		t.Fatalf("LastSeq after reopen = %d, want 10", got)
	}
	if last := mustAppend(t, s2, journal.Record{Mob: "m1", Kind: "k"}); last != 11 {
		t.Fatalf("Append after reopen assigned %d, want 11", last)
	}
	got := mustRead(t, s2, journal.Query{})
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}; !slices.Equal(seqs(got), want) {
		t.Fatalf("seqs after reopen = %v, want %v", seqs(got), want)
	}
	for i, r := range got[:10] {
		if string(r.Data) != fmt.Sprint(i) {
			t.Errorf("record %d data = %s, want %d", r.Seq, r.Data, i)
		}
	}

	// Deleting the mob holding the newest records must not make a reopened
	// store reuse their seqs.
	if n, err := s2.DeleteMob(ctx, "m1"); err != nil || n != 6 {
		t.Fatalf("DeleteMob = %d, %v; want 6, nil", n, err)
	}
	if err := s2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s3 := open(t, path, journal.Options{})
	if got := s3.LastSeq(); got != 11 {
		t.Fatalf("LastSeq after delete and reopen = %d, want 11", got)
	}
	if last := mustAppend(t, s3, journal.Record{Mob: "m1", Kind: "k"}); last != 12 {
		t.Fatalf("Append after delete and reopen assigned %d, want 12", last)
	}
}

func TestConcurrentAppenders(t *testing.T) {
	const writers, each = 16, 500
	s := open(t, tempPath(t), journal.Options{})
	runWriters(t, writers, func(w int) error {
		mob := fmt.Sprintf("mob-%02d", w)
		var prev uint64
		for i := range each {
			rec := journal.Record{Mob: mob, Kind: "k", Data: json.RawMessage(fmt.Sprint(i))}
			var (
				seq uint64
				err error
			)
			if i%50 == 49 {
				seq, err = s.AppendSync(context.Background(), rec)
			} else {
				seq, err = s.Append(rec)
			}
			if err != nil {
				return err
			}
			if seq <= prev {
				return fmt.Errorf("%s: seq %d after %d", mob, seq, prev)
			}
			prev = seq
		}
		return nil
	})
	checkWriters(t, s, writers, each)
	st := s.Stats()
	if st.Appended != writers*each || st.Committed != writers*each {
		t.Fatalf("Stats = %+v, want %d appended and committed", st, writers*each)
	}
	if st.Transactions == 0 || st.Transactions >= st.Committed {
		t.Fatalf("Stats = %+v: no group commit", st)
	}
	t.Logf("%d records in %d transactions (%.1f records/txn)", st.Committed, st.Transactions, float64(st.Committed)/float64(st.Transactions))
}

// TestSyncCallersCommit has Sync callers make every commit (the writer
// goroutine's delay is an hour): concurrent syncers take turns committing,
// each returns only once its records are committed, and the records stay
// gapless and in each appender's order.
func TestSyncCallersCommit(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 200
	s := open(t, tempPath(t), journal.Options{CommitDelay: time.Hour, MaxBatch: 16})
	runWriters(t, writers, func(w int) error {
		mob := fmt.Sprintf("mob-%02d", w)
		for i := range each {
			seq, err := s.Append(journal.Record{Mob: mob, Kind: "k", Data: json.RawMessage(fmt.Sprint(i))})
			if err == nil && i%10 == w%10 {
				err = s.Sync(context.Background())
				if st := s.Stats(); err == nil && st.Committed < seq {
					err = fmt.Errorf("Sync returned with seq %d appended and %d committed", seq, st.Committed)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	checkWriters(t, s, writers, each)
}

// runWriters runs write(w) for each writer w in a goroutine of its own and
// fails t with the errors they return.
func runWriters(t *testing.T, writers int, write func(w int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			if err := write(w); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkWriters checks what concurrent writers left in s: writers*each
// records, gapless and increasing by seq, and writer w's records (mob
// "mob-%02d", data 0, 1, …) in the order it appended them.
func checkWriters(t *testing.T, s *journal.Store, writers, each int) {
	t.Helper()
	all := mustRead(t, s, journal.Query{})
	if len(all) != writers*each {
		t.Fatalf("read %d records, want %d", len(all), writers*each)
	}
	for i, r := range all {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d: not gapless and increasing", i, r.Seq)
		}
	}
	for w := range writers {
		mine := mustRead(t, s, journal.Query{Mob: fmt.Sprintf("mob-%02d", w)})
		if len(mine) != each {
			t.Fatalf("mob-%02d: %d records, want %d", w, len(mine), each)
		}
		for i, r := range mine {
			if string(r.Data) != fmt.Sprint(i) {
				t.Fatalf("mob-%02d: record %d has data %s, want %d", w, i, r.Data, i)
			}
		}
	}
}

// TestWALStaysBounded writes about 40 MB of WAL frames without a pause:
// the background checkpoints (SQLite's automatic ones are off) must keep
// the WAL file far smaller than that.
func TestWALStaysBounded(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	s := open(t, path, journal.Options{})
	ctx := context.Background()
	pad := strings.Repeat("x", 2000)
	for i := range 1000 {
		for k := range 16 {
			if _, err := s.Append(journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(fmt.Sprintf(`{"i":%d,"k":%d,"pad":%q}`, i, k, pad))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const limit = 24 << 20
	if wal.Size() > limit {
		t.Fatalf("WAL is %d MB after 1000 commits, want at most %d MB", wal.Size()>>20, limit>>20)
	}
	t.Logf("WAL %d MB after 1000 commits", wal.Size()>>20)
}

// TestCheckpointWhileSyncing has Sync callers commit records big enough
// for a checkpoint every few dozen transactions, in transactions of at
// most 2 records, while Appends keep waking the writer goroutine: the
// checkpoint must wait for the committer to hand over, so that a record is
// in the database file, as another connection sees it, whenever a Sync
// that covers it returns.
func TestCheckpointWhileSyncing(t *testing.T) {
	t.Parallel()
	const writers, each = 16, 160
	path := tempPath(t)
	s := open(t, path, journal.Options{MaxBatch: 2})
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pad := strings.Repeat("y", 4000)
	runWriters(t, writers, func(w int) error {
		mob := fmt.Sprintf("mob-%02d", w)
		for i := range each {
			seq, err := s.Append(journal.Record{Mob: mob, Kind: "k", Data: json.RawMessage(fmt.Sprintf(`[%d,%q]`, i, pad))})
			if err == nil && i%4 != 3 {
				continue
			}
			if err == nil {
				err = s.Sync(context.Background())
			}
			var n int
			if err == nil {
				// The row that holds seq (a row holds seqs seq-n+1..seq).
				err = db.QueryRow("SELECT count(*) FROM records WHERE seq >= ?1 AND seq - n < ?1", seq).Scan(&n)
			}
			if err == nil && n != 1 {
				err = fmt.Errorf("Sync returned before seq %d was in the database", seq)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if got := mustRead(t, s, journal.Query{}); len(got) != writers*each {
		t.Fatalf("read %d records, want %d", len(got), writers*each)
	}
}

func TestSync(t *testing.T) {
	backends(t, func(t *testing.T, path string) {
		s := open(t, path, journal.Options{MaxBatch: 7})
		ctx := context.Background()
		for i := range 100 {
			mustAppend(t, s, journal.Record{Mob: "m", Kind: "k", Data: json.RawMessage(fmt.Sprint(i))})
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if st := s.Stats(); st.Committed != 100 || st.Appended != 100 || st.Transactions < 100/7 {
			t.Fatalf("after Sync: Stats = %+v, want 100 committed in >= %d transactions", st, 100/7)
		}

		seq, err := s.AppendSync(ctx, journal.Record{Mob: "m", Kind: "k"}, journal.Record{Mob: "n", Kind: "k"})
		if err != nil || seq != 102 {
			t.Fatalf("AppendSync = %d, %v; want 102, nil", seq, err)
		}
		if st := s.Stats(); st.Committed != 102 {
			t.Fatalf("after AppendSync: Stats = %+v, want 102 committed", st)
		}

		// Nothing pending: even a dead context syncs.
		dead, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Sync(dead); err != nil {
			t.Fatalf("Sync with nothing pending and a cancelled ctx: %v", err)
		}

		// A call larger than MaxBatch is committed whole.
		big := make([]journal.Record, 20)
		for i := range big {
			big[i] = journal.Record{Mob: "big", Kind: "k"}
		}
		if _, err := s.AppendSync(ctx, big...); err != nil {
			t.Fatalf("AppendSync of %d records: %v", len(big), err)
		}
		if got := mustRead(t, s, journal.Query{Mob: "big"}); len(got) != len(big) {
			t.Fatalf("read %d records of the big call, want %d", len(got), len(big))
		}
	})
}

func TestReadSeesPending(t *testing.T) {
	s := open(t, tempPath(t), journal.Options{})
	for i := range 200 {
		last := mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"})
		got := mustRead(t, s, journal.Query{After: last - 1})
		if len(got) != 1 || got[0].Seq != last {
			t.Fatalf("iteration %d: Read right after Append(seq %d) = %v", i, last, seqs(got))
		}
	}
}

func TestBackpressure(t *testing.T) {
	s := open(t, tempPath(t), journal.Options{MaxPending: 8, MaxBatch: 4})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 100 {
				if _, err := s.Append(journal.Record{Mob: fmt.Sprint(w), Kind: "k"}, journal.Record{Mob: fmt.Sprint(w), Kind: "k2"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// A single call larger than MaxPending still goes through.
	huge := slices.Repeat([]journal.Record{{Mob: "huge", Kind: "k"}}, 20)
	if _, err := s.Append(huge...); err != nil {
		t.Fatalf("Append of %d records with MaxPending 8: %v", len(huge), err)
	}
	wg.Wait()
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Committed != 820 {
		t.Fatalf("Stats = %+v, want 820 committed", st)
	}
}

func TestNotify(t *testing.T) {
	s := open(t, tempPath(t), journal.Options{})
	ctx := context.Background()
	wake := s.Notify()
	select {
	case <-wake:
		t.Fatal("Notify channel closed before any commit")
	default:
	}

	// A subscriber that waits on Notify when it has caught up.
	const total = 50
	got := make(chan []uint64, 1)
	go func() {
		var cursor uint64
		var seen []uint64
		for len(seen) < total {
			wake := s.Notify()
			recs, err := s.Read(ctx, journal.Query{After: cursor})
			if err != nil {
				t.Error(err)
				break
			}
			if len(recs) == 0 {
				select {
				case <-wake:
				case <-time.After(10 * time.Second):
					t.Error("subscriber not woken")
					got <- seen
					return
				}
				continue
			}
			seen = append(seen, seqs(recs)...)
			cursor = recs[len(recs)-1].Seq
		}
		got <- seen
	}()
	for range total {
		mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"})
		time.Sleep(time.Millisecond)
	}
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("Notify channel not closed after a commit")
	}
	seen := <-got
	if len(seen) != total || seen[0] != 1 || seen[total-1] != total {
		t.Fatalf("subscriber saw %v, want 1..%d", seen, total)
	}

	after := s.Notify()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-after:
	default:
		t.Fatal("Notify channel taken before Close not closed by Close")
	}
	select {
	case <-s.Notify():
	default:
		t.Fatal("Notify after Close returned an open channel")
	}
}

func TestDeleteMob(t *testing.T) {
	backends(t, func(t *testing.T, path string) {
		s := open(t, path, journal.Options{})
		ctx := context.Background()
		for i := range 30 {
			mustAppend(t, s, journal.Record{Mob: []string{"a", "b", "c"}[i%3], Run: fmt.Sprint("r", i%2), Kind: "k"})
		}
		// Not synced: DeleteMob must still delete them.
		n, err := s.DeleteMob(ctx, "b")
		if err != nil || n != 10 {
			t.Fatalf("DeleteMob(b) = %d, %v; want 10, nil", n, err)
		}
		if n, err := s.DeleteMob(ctx, "b"); err != nil || n != 0 {
			t.Fatalf("second DeleteMob(b) = %d, %v; want 0, nil", n, err)
		}
		if n, err := s.DeleteMob(ctx, "nope"); err != nil || n != 0 {
			t.Fatalf("DeleteMob(nope) = %d, %v; want 0, nil", n, err)
		}
		if _, err := s.DeleteMob(ctx, ""); !errors.Is(err, journal.ErrInvalidQuery) {
			t.Fatalf("DeleteMob(\"\"): err = %v, want ErrInvalidQuery", err)
		}
		if got := mustRead(t, s, journal.Query{Mob: "b"}); len(got) != 0 {
			t.Fatalf("mob b still has %d records", len(got))
		}
		if got := mustRead(t, s, journal.Query{}); len(got) != 20 {
			t.Fatalf("%d records left, want 20", len(got))
		}
		mobs, err := s.Mobs(ctx)
		if err != nil || !slices.Equal(mobs, []string{"a", "c"}) {
			t.Fatalf("Mobs = %q, %v; want [a c]", mobs, err)
		}
		if last := mustAppend(t, s, journal.Record{Mob: "b", Kind: "k"}); last != 31 {
			t.Fatalf("Append after DeleteMob assigned %d, want 31", last)
		}
		if st := s.Stats(); s.Err() != nil || st.Appended != 31 {
			t.Fatalf("Err %v, Stats %+v after DeleteMob", s.Err(), st)
		}
	})
}

func TestClose(t *testing.T) {
	backends(t, func(t *testing.T, path string) {
		s, err := journal.Open(context.Background(), path, journal.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 500 {
			mustAppend(t, s, journal.Record{Mob: "m", Kind: "k"})
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if st := s.Stats(); st.Committed != 500 {
			t.Fatalf("Close did not flush: Stats = %+v", st)
		}
		if err := s.Close(); !errors.Is(err, journal.ErrClosed) {
			t.Fatalf("second Close: err = %v, want ErrClosed", err)
		}
		ctx := context.Background()
		calls := map[string]func() error{
			"Append":     func() error { _, err := s.Append(journal.Record{Mob: "m", Kind: "k"}); return err },
			"AppendSync": func() error { _, err := s.AppendSync(ctx, journal.Record{Mob: "m", Kind: "k"}); return err },
			"Sync":       func() error { return s.Sync(ctx) },
			"Read":       func() error { _, err := s.Read(ctx, journal.Query{}); return err },
			"Mobs":       func() error { _, err := s.Mobs(ctx); return err },
			"DeleteMob":  func() error { _, err := s.DeleteMob(ctx, "m"); return err },
			"Close":      s.Close,
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, journal.ErrClosed) {
				t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
			}
		}
		if s.LastSeq() != 500 || s.Err() != nil {
			t.Errorf("after Close: LastSeq %d, Err %v", s.LastSeq(), s.Err())
		}
	})
}

func TestConcurrentClose(t *testing.T) {
	s, err := journal.Open(context.Background(), tempPath(t), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var accepted sync.Map
	for w := range 4 {
		wg.Go(func() {
			for {
				seq, err := s.Append(journal.Record{Mob: fmt.Sprint(w), Kind: "k"})
				if errors.Is(err, journal.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				accepted.Store(seq, true)
			}
		})
		wg.Go(func() {
			for {
				_, err := s.Read(context.Background(), journal.Query{Mob: fmt.Sprint(w), Limit: 10})
				if errors.Is(err, journal.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	closeErrs := make(chan error, 2)
	for range 2 {
		go func() { closeErrs <- s.Close() }()
	}
	wg.Wait()
	var nilErrs int
	for range 2 {
		switch err := <-closeErrs; {
		case err == nil:
			nilErrs++
		case !errors.Is(err, journal.ErrClosed):
			t.Errorf("Close: %v", err)
		}
	}
	if nilErrs != 1 {
		t.Errorf("%d Close calls returned nil, want exactly 1", nilErrs)
	}
	st := s.Stats()
	n := 0
	accepted.Range(func(_, _ any) bool { n++; return true })
	if st.Committed != st.Appended || st.Appended != uint64(n) {
		t.Fatalf("Stats %+v, %d accepted: Close lost records", st, n)
	}
}

func TestFault(t *testing.T) {
	// Two stores on one file is unsupported: the second one's seqs collide
	// with the first's, which must fault it rather than corrupt anything.
	path := tempPath(t)
	ctx := context.Background()
	a := open(t, path, journal.Options{})
	b := open(t, path, journal.Options{})
	if _, err := a.AppendSync(ctx, journal.Record{Mob: "a", Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	_, err := b.AppendSync(ctx, journal.Record{Mob: "b", Kind: "k"}, journal.Record{Mob: "b", Kind: "k"})
	var fe *journal.FaultError
	if !errors.Is(err, journal.ErrFaulted) || !errors.Is(err, journal.ErrForeignWrite) || !errors.As(err, &fe) {
		t.Fatalf("colliding AppendSync: err = %v, want a *FaultError for ErrForeignWrite", err)
	}
	if fe.Lost != 2 || fe.FirstLost != 1 || fe.LastLost != 2 || fe.Cause == nil {
		t.Errorf("FaultError = %+v, want 2 lost records, seqs 1..2, and a cause", fe)
	}
	if !errors.Is(b.Err(), journal.ErrFaulted) {
		t.Errorf("Err = %v, want ErrFaulted", b.Err())
	}
	if _, err := b.Append(journal.Record{Mob: "b", Kind: "k"}); !errors.Is(err, journal.ErrFaulted) {
		t.Errorf("Append on faulted store: err = %v, want ErrFaulted", err)
	}
	if err := b.Sync(ctx); !errors.Is(err, journal.ErrFaulted) {
		t.Errorf("Sync on faulted store: err = %v, want ErrFaulted", err)
	}
	if _, err := b.Read(ctx, journal.Query{}); !errors.Is(err, journal.ErrFaulted) {
		t.Errorf("Read on faulted store: err = %v, want ErrFaulted", err)
	}
	select {
	case <-b.Notify():
	default:
		t.Error("Notify on faulted store returned an open channel")
	}
	if err := b.Close(); !errors.Is(err, journal.ErrFaulted) {
		t.Errorf("Close of faulted store: err = %v, want the fault", err)
	}
	// The healthy store is unaffected.
	if got := mustRead(t, a, journal.Query{}); len(got) != 1 || got[0].Mob != "a" {
		t.Errorf("healthy store reads %+v", got)
	}
}

func TestFaultRollsBackItsTransaction(t *testing.T) {
	// b's five records go in one transaction: seqs 1-4 in one INSERT,
	// which succeeds, then seq 5, which collides with a's. None of b's may
	// remain, and the writer connection must be usable afterwards.
	path := tempPath(t)
	ctx := context.Background()
	a := open(t, path, journal.Options{})
	b := open(t, path, journal.Options{})
	recs := func(mob string, n int) []journal.Record {
		r := make([]journal.Record, n)
		for i := range r {
			r[i] = journal.Record{Mob: mob, Kind: "k"}
		}
		return r
	}
	if _, err := a.AppendSync(ctx, append(recs("gone", 4), journal.Record{Mob: "a", Kind: "k"})...); err != nil {
		t.Fatal(err)
	}
	if n, err := a.DeleteMob(ctx, "gone"); err != nil || n != 4 {
		t.Fatalf("DeleteMob = %d, %v; want 4 records deleted", n, err)
	}
	if _, err := b.AppendSync(ctx, recs("b", 5)...); !errors.Is(err, journal.ErrFaulted) {
		t.Fatalf("colliding AppendSync: err = %v, want ErrFaulted", err)
	}
	if err := b.Close(); !errors.Is(err, journal.ErrFaulted) {
		t.Errorf("Close of faulted store: err = %v, want the fault", err)
	}
	got := mustRead(t, a, journal.Query{})
	if len(got) != 1 || got[0].Mob != "a" || got[0].Seq != 5 {
		t.Fatalf("after the failed transaction the journal holds %+v, want only a's record 5", got)
	}
	if _, err := a.AppendSync(ctx, journal.Record{Mob: "a", Kind: "k"}); err != nil {
		t.Fatalf("AppendSync on the healthy store: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts journal.Options
	}{
		{"empty path", "", journal.Options{}},
		{"negative batch", ":memory:", journal.Options{MaxBatch: -1}},
		{"negative pending", ":memory:", journal.Options{MaxPending: -1}},
		{"bad synchronous", ":memory:", journal.Options{Synchronous: "OFF"}},
		{"directory", dir, journal.Options{}},
		{"missing parent", filepath.Join(dir, "no", "such", "dir", "j.db"), journal.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := journal.Open(ctx, tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, %+v) succeeded", tt.path, tt.opts)
			}
		})
	}

	s := open(t, tempPath(t), journal.Options{Synchronous: "full"})
	if _, err := s.AppendSync(ctx, journal.Record{Mob: "m", Kind: "k"}); err != nil {
		t.Fatalf("AppendSync with Synchronous full: %v", err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := tempPath(t)
	ctx := context.Background()
	s, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != journal.SchemaVersion {
		t.Fatalf("schema_version = %d, %v; want %d", v, err, journal.SchemaVersion)
	}
	if _, err := db.Exec(`UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := journal.Open(ctx, path, journal.Options{}); !errors.Is(err, journal.ErrSchemaTooNew) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

// Records appended within CommitDelay share a transaction; a Sync does not
// wait for the delay.
func TestCommitDelay(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "j.db"), journal.Options{CommitDelay: time.Hour})
	for i := range 10 {
		if _, err := s.Append(journal.Record{Mob: "m", Kind: fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A Sync whose ctx has ended commits nothing and says so.
	dead, kill := context.WithCancel(context.Background())
	kill()
	if err := s.Sync(dead); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled ctx and records pending: %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.Committed != 0 {
		t.Fatalf("stats %+v after a cancelled Sync, want nothing committed", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Committed != 10 || st.Transactions != 1 {
		t.Fatalf("stats %+v, want 10 records in 1 transaction", st)
	}
	recs, err := s.Read(ctx, journal.Query{Mob: "m"})
	if err != nil || len(recs) != 10 {
		t.Fatalf("read %d, %v", len(recs), err)
	}
}
