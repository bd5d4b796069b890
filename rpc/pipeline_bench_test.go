package rpc

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkPipeline measures the SDK's own cost per streamed event, with no
// runtime process: the read loop routes prebuilt session/event lines to a
// turn stream whose consumer parses every event.
func BenchmarkPipeline(b *testing.B) {
	const sid = "01a21384-a5b4-7cfe-a20a-a481b1b41142"
	var in bytes.Buffer
	const n = 100_000
	for i := range n {
		fmt.Fprintf(&in, `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":%q,"event":{"event_id":"2fb17f99-4d4a-4f68-9c96-20eb5d8%05d","source":{"type":"session","session_id":%q},"seq":%d,"timestamp_ms":1795623149343,"payload":{"type":"text_delta","delta":" alpha"}}}}`+"\n", sid, i, sid, i+1)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := newConn(nopWriter{}, zap.NewNop(), 16384, OverflowBlock, 0)
		q := newEventQueue(16384, OverflowBlock)
		c.addSink(sid, &turnSink{q: q})
		go c.readLoop(bytes.NewReader(data))
		start, cpu0 := time.Now(), cpuTime()
		got := 0
		for {
			it, ok, _ := q.pop(context.Background())
			if !ok {
				break
			}
			err := it.err
			if !it.typed {
				_, err = ParseEnvelope(it.frame, EventOptions{})
			}
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("got %d events", got)
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/event")
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/n, "cpu-ns/event")
		<-c.done
	}
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
