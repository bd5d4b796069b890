package rpc

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestLateTerminalBeforeEnd checks that a turn's terminal event arriving
// after its response is visible before the stream's end, even when the
// reader then waits on another stream's full buffer before it finishes its
// burst: the end must never overtake the event.
func TestLateTerminalBeforeEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		late  string // A's event after its response
	}{
		// The terminal event ends A's stream on the reader.
		{"terminal", time.Minute, `{"type":"run_completed","session_id":"` + lateA + `","result":"hi","usage":{"input_tokens":1,"output_tokens":1}}`},
		// The grace period ends it, on its timer, while the reader waits.
		{"grace", 50 * time.Millisecond, `{"type":"text_delta","delta":" there"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lateStream(t, tc.grace, tc.late)
			if len(got) != 2 {
				t.Fatalf("A's stream saw %v, want its two events", got)
			}
		})
	}
}

const (
	lateA = "01a21384-a5b4-7cfe-a20a-a481b1b41142"
	lateB = "01a21384-a5b4-7cfe-a20a-a481b1b41143"
)

// lateStream runs a connection on which session A's turn has responded and
// is in its grace period, feeds it A's event before and after the response
// (late), then more events of session B than B's stream holds, so that the
// reader waits on B's consumer; it returns the types of the events A's
// stream delivered before its end.
func lateStream(t *testing.T, grace time.Duration, late string) []string {
	event := func(sid string, i int, payload string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","method":"session/event","params":{"session_id":%q,"event":{"event_id":"2fb17f99-4d4a-4f68-9c96-20eb5d8%05d","source":{"type":"session","session_id":%q},"seq":%d,"timestamp_ms":1795623149343,"payload":%s}}}`+"\n",
			sid, i, sid, i+1, payload)
	}
	var in strings.Builder
	in.WriteString(event(lateA, 0, `{"type":"text_delta","delta":"hi"}`))
	in.WriteString(event(lateA, 1, late))
	for i := range 8 {
		in.WriteString(event(lateB, 2+i, `{"type":"text_delta","delta":"b"}`))
	}

	c := newConn(io.Discard, zap.NewNop(), 4, OverflowBlock, grace)
	qa, qb := newEventQueue(16, OverflowBlock), newEventQueue(2, OverflowBlock)
	a, b := &turnSink{q: qa}, &turnSink{q: qb}
	c.addSink(lateA, a)
	c.addSink(lateB, b)
	c.turnResponded(lateA, a, []byte(`{"text":"hi"}`), nil)
	pr, pw := io.Pipe()
	go c.readLoop(pr)
	go func() { _, _ = io.WriteString(pw, in.String()) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var types []string
	for {
		it, ok, err := qa.pop(ctx)
		if !ok {
			if err != nil {
				t.Fatalf("A's stream ended with %v after %v", err, types)
			}
			break
		}
		var env Envelope
		switch {
		case it.typed && it.env == nil:
			env = it.fast.envelope()
		case it.typed:
			env, err = *it.env, it.err
		default:
			env, err = ParseEnvelope(it.frame, EventOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Event.EventType())
	}
	// Let the reader finish: drain B and end the input.
	for range 8 {
		if _, ok, err := qb.pop(ctx); !ok {
			t.Fatalf("B's stream ended: %v", err)
		}
	}
	_ = pw.Close()
	<-c.done
	return types
}
