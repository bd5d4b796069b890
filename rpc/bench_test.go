package rpc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
	"go.uber.org/zap"
)

// streamTokens is the size of the throughput benchmark's turn.
var streamTokens = envInt("BENCH_STREAM_TOKENS", 200_000)

// bareStream starts rkat-sim, asks it for a turn of n text deltas and counts
// the lines of its output with a bare bufio loop until the end of the
// turn's response, the last line the SDK reads too. It is the ceiling the
// SDK is measured against.
func bareStream(b *testing.B, n int) (events int, elapsed time.Duration) {
	cmd := exec.Command(simBin)
	cmd.Env = append(os.Environ(), "RKAT_SIM_TRANSCRIPT_DIR=")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(stdout, 64<<10)
	defer func() { _ = stdin.Close(); _, _ = io.Copy(io.Discard, r); _ = cmd.Wait() }()
	fmt.Fprintf(stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`+"\n")
	if _, err := r.ReadSlice('\n'); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	fmt.Fprintf(stdin, `{"jsonrpc":"2.0","id":2,"method":"session/create","params":{"prompt":"[[sim:tokens %d]]"}}`+"\n", n)
	// The response carries the turn's whole text (as does its
	// text_complete event): it ends where its line ends, which may be many
	// buffers after its start.
	lineStart, response := true, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			b.Fatal(err)
		}
		if lineStart && bytes.HasPrefix(line, []byte(`{"jsonrpc":"2.0","id":2`)) {
			response = true
		}
		lineStart = err == nil
		switch {
		case lineStart && response:
			return events, time.Since(start)
		case lineStart:
			events++
		}
	}
}

// sdkStream runs the same turn through the SDK, reading every typed event;
// with sampleHeap, it also samples the heap while it streams (peakHeap is 0
// without).
func sdkStream(b *testing.B, n int, sampleHeap bool) (events int, elapsed, cpu time.Duration, peakHeap uint64) {
	c, err := rpc.Connect(context.Background(), rpc.Options{BinaryPath: simBin, Env: []string{"RKAT_SIM_TRANSCRIPT_DIR="}, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !sampleHeap {
			<-stop
			return
		}
		// runtime/metrics, unlike ReadMemStats, does not stop the world.
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				metrics.Read(sample)
				if inUse := sample[0].Value.Uint64() + sample[1].Value.Uint64(); inUse > peak.Load() {
					peak.Store(inUse)
				}
			}
		}
	}()
	start, cpu0 := time.Now(), processCPU()
	st := c.CreateSessionStreaming(context.Background(), rpc.Text(fmt.Sprintf("[[sim:tokens %d]]", n)), rpc.SessionOptions{})
	deltas := 0
	for st.Next() {
		events++
		if _, ok := st.Current().(*rpc.TextDelta); ok {
			deltas++
		}
	}
	elapsed, cpu = time.Since(start), processCPU()-cpu0
	close(stop)
	wg.Wait()
	if err := st.Err(); err != nil {
		b.Fatal(err)
	}
	if deltas != n {
		b.Fatalf("SDK saw %d deltas, want %d", deltas, n)
	}
	return events, elapsed, cpu, peak.Load()
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStreamThroughput compares events/s through the SDK with a bare
// newline-counting loop over the same simulator output, in the same run.
func BenchmarkStreamThroughput(b *testing.B) {
	var bareRate, sdkRate, cpuPerEvent float64
	for b.Loop() {
		ne, be := bareStream(b, streamTokens)
		se, sd, cpu, _ := sdkStream(b, streamTokens, false)
		bareRate += float64(ne) / be.Seconds()
		sdkRate += float64(se) / sd.Seconds()
		cpuPerEvent += float64(cpu.Nanoseconds()) / float64(se)
	}
	// The heap is sampled on a stream of its own: sampling it every 5 ms
	// costs the SDK about 20 ns of CPU per event, which slowed the timed
	// streams by about 3%.
	_, _, _, peak := sdkStream(b, streamTokens, true)
	n := float64(b.N)
	b.ReportMetric(cpuPerEvent/n, "sdk_cpu_ns/event")
	b.ReportMetric(bareRate/n, "bare_events/s")
	b.ReportMetric(sdkRate/n, "sdk_events/s")
	b.ReportMetric(sdkRate/bareRate, "sdk/bare")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MiB")
	b.ReportMetric(float64(rssHWM())/(1<<20), "max_rss_MiB")
}

// rssHWM returns the process's peak resident set size in bytes (Linux).
func rssHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkTurnRoundTrip measures sequential turns on one session.
func BenchmarkTurnRoundTrip(b *testing.B) {
	c, err := rpc.Connect(context.Background(), rpc.Options{BinaryPath: simBin, Env: []string{"RKAT_SIM_TRANSCRIPT_DIR="}, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	s, err := c.CreateSession(ctx, rpc.Text("echo: ready"), rpc.SessionOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := s.Turn(ctx, rpc.Text("echo: ping"), rpc.TurnOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "turns/s")
}

// BenchmarkConcurrentTurns runs turns on 64 sessions of one runtime at once.
func BenchmarkConcurrentTurns(b *testing.B) {
	const sessions = 64
	c, err := rpc.Connect(context.Background(), rpc.Options{BinaryPath: simBin, Env: []string{"RKAT_SIM_TRANSCRIPT_DIR="}, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	ss := make([]*rpc.Session, sessions)
	for i := range ss {
		if ss[i], err = c.CreateSession(ctx, rpc.Text("echo: ready"), rpc.SessionOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	start := time.Now()
	var turns atomic.Int64
	for b.Loop() {
		var wg sync.WaitGroup
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Turn(ctx, rpc.Text("echo: ping"), rpc.TurnOptions{}); err != nil {
					b.Error(err)
				}
				turns.Add(1)
			}()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(turns.Load())/time.Since(start).Seconds(), "turns/s")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
