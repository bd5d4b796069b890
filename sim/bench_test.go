package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/sim"
)

// BenchmarkTokenFlood measures the text_delta hot path: one session/create
// streaming N tokens, output discarded by the reader.
func BenchmarkTokenFlood(b *testing.B) {
	const tokens = 200_000
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"session/create","params":{"prompt":"[[sim:tokens %d]]"}}`+"\n", tokens)
	b.ReportAllocs()
	var written int64
	for b.Loop() {
		pr, pw := io.Pipe()
		done := make(chan int64)
		go func() {
			n, _ := io.Copy(io.Discard, pr)
			done <- n
		}()
		if err := sim.Serve(context.Background(), strings.NewReader(req), pw, sim.Options{}); err != nil {
			b.Fatal(err)
		}
		_ = pw.Close()
		written = <-done
	}
	b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(written), "bytes/op-out")
}

// BenchmarkShortTurns measures request/response overhead for small turns.
func BenchmarkShortTurns(b *testing.B) {
	var in bytes.Buffer
	in.WriteString(`{"jsonrpc":"2.0","id":0,"method":"session/create","params":{"prompt":"hi","initial_turn":"deferred"}}` + "\n")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		var reqs bytes.Buffer
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&reqs, `{"jsonrpc":"2.0","id":%d,"method":"session/create","params":{"prompt":"What is the capital of France?"}}`+"\n", i+1)
		}
		b.StartTimer()
		if err := sim.Serve(context.Background(), &reqs, io.Discard, sim.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
