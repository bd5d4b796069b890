package journal_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mobd-dev/mobd/journal"
)

// benchRecord is a typical step_completed record: a few hundred bytes of
// JSON output.
var benchRecord = journal.Record{
	Mob:  "mob-7f3a9c",
	Run:  "run-2b81d0e4",
	Kind: "step_completed",
	Data: json.RawMessage(`{"step":"review","agent":"reviewer-1","output":{"verdict":"approve","summary":"The change is small, tested and documented; no further comments.","score":0.92},"tokens":{"in":1834,"out":212},"elapsed_ms":4180}`),
}

// benchStore opens a file store with default options for a benchmark.
func benchStore(b *testing.B) *journal.Store {
	b.Helper()
	return open(b, tempPath(b), journal.Options{})
}

// report adds records/s and records/txn (for the records committed since
// before) to the benchmark's output.
func report(b *testing.B, s *journal.Store, before journal.Stats) {
	b.Helper()
	st := s.Stats()
	committed := st.Committed - before.Committed
	txns := st.Transactions - before.Transactions
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(committed)/sec, "records/s")
	}
	if txns > 0 {
		b.ReportMetric(float64(committed)/float64(txns), "records/txn")
	}
}

// BenchmarkAppend measures asynchronous appends from one goroutine,
// including the final Sync that waits for all of them to be committed.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	before := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Append(benchRecord); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	report(b, s, before)
}

// BenchmarkAppendSync measures one record per commit wait: the latency of
// a durable append when nothing else is writing.
func BenchmarkAppendSync(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	before := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := s.AppendSync(ctx, benchRecord); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, s, before)
}

// BenchmarkAppendParallel measures many goroutines appending at once, both
// asynchronously and each waiting for its record (where group commit shares
// one transaction among the waiters).
func BenchmarkAppendParallel(b *testing.B) {
	b.Run("async", func(b *testing.B) {
		s := benchStore(b)
		before := s.Stats()
		b.ReportAllocs()
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Append(benchRecord); err != nil {
					b.Error(err)
					return
				}
			}
		})
		if err := s.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		report(b, s, before)
	})
	b.Run("sync", func(b *testing.B) {
		s := benchStore(b)
		before := s.Stats()
		b.ReportAllocs()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if _, err := s.AppendSync(ctx, benchRecord); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b, s, before)
	})
}
