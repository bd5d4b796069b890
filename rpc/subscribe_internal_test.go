package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestAbandonedSubscriptionOpen checks what happens to a stream whose
// opener gave up before the runtime answered: the client closes the
// stream on the runtime when the answer comes, and the stream's events
// are dropped, not kept: they would fill the buffer that holds early
// events for everyone, and a later stream would lose its own.
func TestAbandonedSubscriptionOpen(t *testing.T) {
	reqR, reqW := io.Pipe() // the client's requests
	inR, inW := io.Pipe()   // the runtime's output
	c := newConn(reqW, zap.NewNop(), 4, OverflowBlock, 0)
	client := &Client{conn: c, opts: Options{StreamBuffer: 4, Overflow: OverflowBlock}}
	go c.readLoop(inR)
	requests := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(reqR)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				requests <- m
			}
		}
		close(requests)
	}()
	next := func() map[string]any {
		t.Helper()
		select {
		case m := <-requests:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no request from the client")
			return nil
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := openSubscription(ctx, client, "session/stream_open", "session/stream_close",
			map[string]string{"session_id": "s"}, func(b []byte) ([]byte, error) { return b, nil })
		done <- err
	}()
	open := next()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("open with a canceled ctx: %v", err)
	}
	// The runtime answers late, then streams more events than any buffer
	// holds.
	fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%v,"result":{"stream_id":"st-1"}}`+"\n", open["id"])
	for i := range 100 {
		fmt.Fprintf(inW, `{"jsonrpc":"2.0","method":"session/stream_event","params":{"stream_id":"st-1","n":%d}}`+"\n", i)
	}
	if m := next(); m["method"] != "session/stream_close" || m["params"].(map[string]any)["stream_id"] != "st-1" {
		t.Fatalf("after the late answer the client sent %v, want session/stream_close of st-1", m)
	}
	// The reader has handled every event (it answers the next call).
	go func() {
		m := next()
		fmt.Fprintf(inW, `{"jsonrpc":"2.0","id":%v,"result":{}}`+"\n", m["id"])
	}()
	if err := c.call(context.Background(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	kept, subs := c.orphanN, len(c.subs)
	c.mu.Unlock()
	if kept != 0 || subs != 0 {
		t.Fatalf("after an abandoned open: %d events kept, %d streams routed; want none", kept, subs)
	}
	_ = inW.Close()
	<-c.done
	_ = reqW.Close()
}
