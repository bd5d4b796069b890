package server

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scrape reads /metrics and returns every sample by its series, e.g.
// `mobd_member_pending_asks{member="analyst",mob="research"}`.
func (f *fixture) scrape() map[string]float64 {
	f.t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(f.must(200, "GET", "/metrics", "", "")))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			f.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sumOf sums the samples of metric over its series.
func sumOf(samples map[string]float64, metric string) float64 {
	var sum float64
	for series, v := range samples {
		if series == metric || strings.HasPrefix(series, metric+"{") {
			sum += v
		}
	}
	return sum
}

// TestMailboxDepthMetrics fills a member's mailbox with slow messages and
// watches /metrics report it: the member's pending asks, its session's
// queued and running turns, the deepest mailbox; then all of it drains
// back to zero.
func TestMailboxDepthMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.withMob()

	idle := f.scrape()
	for _, series := range []string{
		`mobd_member_pending_asks{member="analyst",mob="research"}`,
		`mobd_member_pending_asks{member="lead",mob="research"}`,
		`mobd_session_queued_turns{runtime="runtime-0"}`,
		`mobd_session_running_turns{runtime="runtime-0"}`,
		`mobd_session_mailbox_depth_max`,
		`mobd_mailbox_probe_failures{kind="member"}`,
		`mobd_mailbox_probe_failures{kind="session"}`,
	} {
		v, ok := idle[series]
		if !ok || v != 0 {
			t.Fatalf("idle: %s = %v (present %v), want 0", series, v, ok)
		}
	}

	// Four messages to the analyst: one runs (each token 40 ms), three wait
	// in its session's mailbox, all four are pending asks of the member.
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := f.do("POST", "/v1/mobs/research/members/analyst/send", "",
				fmt.Sprintf(`{"text":"[[sim:slow 40ms]] count to %d"}`, 8+i))
			if status != 200 {
				errs <- fmt.Errorf("send %d: %d %s", i, status, body)
			}
		}()
	}
	want := map[string]float64{
		`mobd_member_pending_asks{member="analyst",mob="research"}`: n,
		`mobd_member_pending_asks{member="lead",mob="research"}`:    0,
		`mobd_session_mailbox_depth_max`:                            n,
	}
	deadline := time.Now().Add(10 * time.Second)
	var busy map[string]float64
	for {
		busy = f.scrape()
		ok := sumOf(busy, "mobd_session_queued_turns") == n-1 && sumOf(busy, "mobd_session_running_turns") == 1
		for series, v := range want {
			ok = ok && busy[series] == v
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy mailbox was never reported: %v", mailboxSeries(busy))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("busy: %v", mailboxSeries(busy))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Every ask was answered: nothing is pending or queued any more.
	deadline = time.Now().Add(10 * time.Second)
	for {
		s := f.scrape()
		if sumOf(s, "mobd_member_pending_asks")+sumOf(s, "mobd_session_queued_turns")+
			sumOf(s, "mobd_session_running_turns")+s["mobd_session_mailbox_depth_max"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mailboxes did not drain: %v", mailboxSeries(s))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mailboxSeries keeps the mailbox metrics of a scrape, for messages.
func mailboxSeries(samples map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for series, v := range samples {
		for _, p := range []string{"mobd_member_pending_asks", "mobd_session_", "mobd_mailbox_"} {
			if strings.HasPrefix(series, p) {
				out[series] = v
			}
		}
	}
	return out
}
