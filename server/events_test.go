package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sseEvent is one event read by readSSE.
type sseEvent struct {
	id, name, data string
}

// readSSE reads the events of GET path (with the extra header pairs)
// until stop returns true or the stream ends.
func (f *fixture) readSSE(ctx context.Context, path string, stop func(sseEvent) bool, header ...string) []sseEvent {
	f.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+path, nil)
	return f.sse(req, stop, header...)
}

// postSSE posts body to path and reads the event stream to its end.
func (f *fixture) postSSE(ctx context.Context, path, body string) []sseEvent {
	f.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.ts.URL+path, strings.NewReader(body))
	return f.sse(req, nil)
}

func (f *fixture) sse(req *http.Request, stop func(sseEvent) bool, header ...string) []sseEvent {
	f.t.Helper()
	path := req.URL.Path
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
				if stop != nil && stop(cur) {
					return out
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data += line[6:]
		}
	}
	return out
}

func TestEventsResumeFromLastEventID(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	ctx := testCtx(t)

	// A live subscriber, started before the run, sees it to the end.
	live := make(chan []sseEvent, 1)
	subscribed := make(chan struct{})
	go func() {
		live <- f.readSSE(ctx, "/v1/events?mob=research&after=0", func(ev sseEvent) bool {
			if ev.name == "mob_created" {
				close(subscribed)
			}
			return ev.name == "flow_completed"
		})
	}()
	<-subscribed
	f.must(201, "POST", "/v1/mobs/research/flows/brief/runs", "", `{"params":{"country":"France"},"run_id":"r1"}`)
	got := <-live
	waitRun(t, f, "research", "r1", "completed")

	// The whole log, without following.
	all := f.readSSE(ctx, "/v1/events?mob=research&follow=false", nil)
	if len(all) < 10 || len(got) != len(all) {
		t.Fatalf("live subscriber saw %d events, the log has %d", len(got), len(all))
	}
	for i := range all {
		if got[i] != all[i] {
			t.Fatalf("event %d: live %+v, log %+v", i, got[i], all[i])
		}
		var ev struct {
			Cursor uint64 `json:"cursor"`
			Type   string `json:"type"`
		}
		if err := json.Unmarshal([]byte(all[i].data), &ev); err != nil || strconv.FormatUint(ev.Cursor, 10) != all[i].id || ev.Type != all[i].name {
			t.Fatalf("event %d: %+v (%v)", i, all[i], err)
		}
		if i > 0 {
			a, _ := strconv.ParseUint(all[i-1].id, 10, 64)
			b, _ := strconv.ParseUint(all[i].id, 10, 64)
			if b <= a {
				t.Fatalf("ids not increasing: %s then %s", all[i-1].id, all[i].id)
			}
		}
	}

	// Resuming after any event yields exactly the rest, once.
	for _, k := range []int{0, len(all) / 2, len(all) - 1} {
		rest := f.readSSE(ctx, "/v1/events?mob=research&follow=false", nil, "Last-Event-ID", all[k].id)
		if len(rest) != len(all)-k-1 || (len(rest) > 0 && rest[0] != all[k+1]) {
			t.Fatalf("resume after %s: %d events, want %d", all[k].id, len(rest), len(all)-k-1)
		}
	}
	// Filters: one run's events, one member's.
	runEvs := f.readSSE(ctx, "/v1/events?mob=research&run=r1&follow=false", nil)
	for _, ev := range runEvs {
		if !strings.Contains(ev.data, `"run_id":"r1"`) {
			t.Fatalf("run filter let through %+v", ev)
		}
	}
	memberEvs := f.readSSE(ctx, "/v1/events?mob=research&member=analyst&follow=false", nil)
	if len(memberEvs) == 0 {
		t.Fatal("no events of member analyst")
	}
	for _, ev := range memberEvs {
		if !strings.Contains(ev.data, `"analyst"`) {
			t.Fatalf("member filter let through %+v", ev)
		}
	}
}

func TestEventsHeartbeatAndSubscriberGauge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithCancel(testCtx(t))
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/v1/events", nil)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != ": heartbeat\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if m := f.must(200, "GET", "/metrics", "", ""); !strings.Contains(m, "mobd_sse_subscribers 1") {
		t.Fatal("subscriber gauge is not 1")
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(f.must(200, "GET", "/metrics", "", ""), "mobd_sse_subscribers 0") {
		if time.Now().After(deadline) {
			t.Fatal("subscriber gauge did not drop to 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A cursor ahead of the journal's last event is another journal's (the
// state directory was reset): following it would skip every event up to
// it, so it is refused.
func TestEventsCursorAhead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()
	for _, c := range []struct{ path, header string }{
		{"/v1/events?after=999999&follow=false", ""},
		{"/v1/events?follow=false", "999999"},
	} {
		var status int
		var body string
		if c.header != "" {
			status, body = f.do("GET", c.path, "", "", "Last-Event-ID", c.header)
		} else {
			status, body = f.do("GET", c.path, "", "")
		}
		if code, _ := errCode(t, body); status != 409 || code != CodeCursorAhead || !strings.Contains(body, "999999") {
			t.Errorf("%s (Last-Event-ID %q): %d %s; want 409 %s", c.path, c.header, status, body, CodeCursorAhead)
		}
	}
	f.must(200, "GET", "/v1/events?after=1&follow=false", "", "")
}

// HEAD /v1/events answers the stream's headers and ends: it is not a
// subscription, whose body would go nowhere for as long as it lasted.
func TestEventsHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	req, _ := http.NewRequestWithContext(testCtx(t), "HEAD", f.ts.URL+"/v1/events", nil)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD /v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f.must(200, "GET", "/v1/events?follow=false", "", "")
	if m := f.must(200, "GET", "/metrics", "", ""); !strings.Contains(m, "mobd_sse_subscribers 0") {
		t.Fatal("HEAD left a subscriber behind")
	}
}

// A run id names a run within its mob only: run= without mob= is refused
// rather than mixing the events of equally named runs of several mobs.
func TestEventsRunNeedsMob(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	status, body := f.do("GET", "/v1/events?run=r1&follow=false", "", "")
	if code, _ := errCode(t, body); status != 400 || code != CodeInvalidRequest {
		t.Fatalf("run without mob: %d %s; want 400 %s", status, body, CodeInvalidRequest)
	}
	f.must(200, "GET", "/v1/events?mob=m&run=r1&follow=false", "", "")
}
