// Command mobd-load is a bounded load run against a real mobd daemon.
//
// It starts `mobd serve --runtime sim` on a free loopback port with a fresh
// state directory, creates a few mobs over the API, and then, for a fixed
// duration, keeps a number of flow runs in flight (each worker starts a
// run, polls its status until it ends, starts the next) while a number of
// SSE subscribers follow /v1/events, dropping their connection now and then
// and resuming with Last-Event-ID. Afterwards it lets the runs in flight
// finish, reads the journal once more (GET /v1/events?follow=false) and
// compares every subscriber's events with it: none may be missing,
// duplicated or out of order. It prints the API's latency percentiles (flow
// run POSTs and run status GETs, as the client sees them), throughput,
// events journaled and delivered, and the daemon's memory (VmHWM and VmRSS
// of /proc/<pid>/status), then stops the daemon with SIGTERM.
//
//	mobd-load -mobd bin/mobd -duration 60s
//
// The exit status is 1 when a subscriber lost, duplicated or reordered an
// event, a run did not complete, or the daemon did not stop cleanly.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// options are the command-line settings of a load run.
type options struct {
	mobd        string
	sim         string
	duration    time.Duration
	runs        int
	subscribers int
	mobs        int
	pool        int
	tokenDelay  time.Duration
	poll        time.Duration
	reconnect   time.Duration
	drain       time.Duration
	keep        bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mobd-load: %v\n", err)
		return 2
	}
	log := newLogger(stderr)
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadRun(ctx, o, log)
	if rep != nil {
		rep.print(stdout, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mobd-load: %v\n", err)
		return 1
	}
	if !rep.ok() {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("mobd-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dur := 60 * time.Second
	if v := os.Getenv("DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return options{}, fmt.Errorf("DURATION %q: %w", v, err)
		}
		dur = d
	}
	var o options
	fs.StringVar(&o.mobd, "mobd", "bin/mobd", "the mobd executable (rkat-sim is looked up next to it)")
	fs.StringVar(&o.sim, "sim", "", "the rkat-sim executable (default: next to mobd, or on PATH)")
	fs.DurationVar(&o.duration, "duration", dur, "how long flow runs are started (env DURATION)")
	fs.IntVar(&o.runs, "runs", 100, "flow runs kept in flight")
	fs.IntVar(&o.subscribers, "subscribers", 200, "SSE subscribers of /v1/events (half unfiltered, half one mob's)")
	fs.IntVar(&o.mobs, "mobs", 16, "mobs the runs are spread over (each has a lead and a worker)")
	fs.IntVar(&o.pool, "pool-size", 2, "runtime processes of the daemon")
	fs.DurationVar(&o.tokenDelay, "token-delay", 5*time.Millisecond, "rkat-sim's delay per streamed token (a stand-in for model latency)")
	fs.DurationVar(&o.poll, "poll", 200*time.Millisecond, "interval of a worker's run status GETs")
	fs.DurationVar(&o.reconnect, "reconnect", 15*time.Second, "mean time a subscriber stays connected before it resumes with Last-Event-ID (0: never)")
	fs.DurationVar(&o.drain, "drain", 60*time.Second, "how long the runs in flight get to finish after the load")
	fs.BoolVar(&o.keep, "keep", false, "keep the daemon's state directory (its log is mobd.log there)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.duration <= 0 || o.runs < 1 || o.subscribers < 0 || o.mobs < 1 || o.pool < 1 {
		return o, errors.New("-duration, -runs, -mobs and -pool-size must be positive")
	}
	return o, nil
}

func newLogger(w io.Writer) *zap.Logger {
	ec := zap.NewDevelopmentEncoderConfig()
	ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(ec), zapcore.AddSync(w), zap.InfoLevel))
}

// loadRun starts the daemon, runs the load and checks the event streams.
// It returns the report of whatever it got to measure.
func loadRun(ctx context.Context, o options, log *zap.Logger) (*report, error) {
	d, err := startDaemon(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer d.cleanup(o.keep, log)
	rep := &report{cpus: runtime.NumCPU()}
	defer func() {
		rep.shutdown, rep.exitErr = d.stop(30 * time.Second)
	}()

	api := newAPI(d.base, d.token, o.runs+o.subscribers+16)
	if err := setup(ctx, api, o); err != nil {
		return rep, fmt.Errorf("setup: %w", err)
	}
	head, err := lastCursor(ctx, api, url.Values{})
	if err != nil {
		return rep, fmt.Errorf("journal head: %w", err)
	}
	log.Info("daemon ready", zap.String("url", d.base), zap.Int("pid", d.cmd.Process.Pid), zap.Uint64("journal_head", head))

	// Subscribers first, from the journal head: they must see every event
	// of the load.
	subCtx, stopSubs := context.WithCancel(ctx)
	defer stopSubs()
	subs := make([]*subscriber, o.subscribers)
	var subWG sync.WaitGroup
	for i := range subs {
		q := url.Values{}
		if i%2 == 1 {
			q.Set("mob", mobID((i/2)%o.mobs))
		}
		subs[i] = &subscriber{api: api, query: q, last: head, reconnect: o.reconnect, log: log}
		subWG.Add(1)
		go func() {
			defer subWG.Done()
			subs[i].run(subCtx)
		}()
	}
	if err := waitSubscribed(ctx, api, o.subscribers); err != nil {
		return rep, err
	}

	mem := &memSampler{pid: d.cmd.Process.Pid}
	sampleCtx, stopSample := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); mem.run(sampleCtx, api) }()

	log.Info("load started", zap.Duration("duration", o.duration), zap.Int("runs_in_flight", o.runs), zap.Int("subscribers", o.subscribers))
	cpu0, self0 := scrapeMetrics(ctx, api)["process_cpu_seconds_total"], selfCPU()
	loadCtx, endLoad := context.WithTimeout(ctx, o.duration)
	defer endLoad()
	drainCtx, endDrain := context.WithCancel(ctx)
	defer endDrain()
	stats := newStats()
	var workers sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.runs; w++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			worker(loadCtx, drainCtx, api, mobID(w%o.mobs), w, o.poll, stats)
		}()
	}
	progressDone := make(chan struct{})
	go func() { defer close(progressDone); progress(loadCtx, log, stats, subs, start) }()
	<-loadCtx.Done()
	rep.loadTime = time.Since(start)
	<-progressDone
	drainStart := time.Now()
	drainTimer := time.AfterFunc(o.drain, endDrain)
	workers.Wait()
	drainTimer.Stop()
	rep.drainTime = time.Since(drainStart)
	stopSample()
	<-sampled
	rep.daemonCPU = scrapeMetrics(ctx, api)["process_cpu_seconds_total"] - cpu0
	rep.toolCPU = selfCPU() - self0
	log.Info("load ended; comparing every subscriber's events with the journal")

	// Every run has ended: the journal is complete. Wait for the
	// subscribers to catch up, then compare.
	refs := map[string][]uint64{}
	for _, s := range subs {
		key := s.query.Encode()
		if _, ok := refs[key]; ok {
			continue
		}
		ids, err := journalIDs(ctx, api, s.query, head)
		if err != nil {
			return rep, fmt.Errorf("read the journal (%s): %w", key, err)
		}
		refs[key] = ids
	}
	all := refs[""]
	catchUp := time.Now()
	deadline := catchUp.Add(60 * time.Second)
	for _, s := range subs {
		ref := refs[s.query.Encode()]
		if len(ref) == 0 {
			continue
		}
		for s.lastSeen() < ref[len(ref)-1] && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	rep.catchUp = time.Since(catchUp)
	stopSubs()
	subWG.Wait()

	rep.mem = mem.final(api)
	rep.metrics = scrapeMetrics(ctx, api)
	rep.stats = stats.summary()
	rep.journaled = len(all)
	if len(all) > 0 {
		rep.firstCursor, rep.lastCursor = all[0], all[len(all)-1]
	}
	for _, s := range subs {
		rep.addSubscriber(s, refs[s.query.Encode()])
	}
	rep.eventTypes, _ = eventTypes(ctx, api, head)
	return rep, ctx.Err()
}

func mobID(i int) string { return "load-" + strconv.Itoa(i) }

// ---- the daemon ----

// daemon is the mobd process under load.
type daemon struct {
	cmd   *exec.Cmd
	done  chan error
	base  string
	token string
	state string
}

// startDaemon starts `mobd serve --runtime sim` on a free loopback port
// with a fresh state directory and a bearer token, and waits for /readyz.
func startDaemon(ctx context.Context, o options, log *zap.Logger) (*daemon, error) {
	state, err := os.MkdirTemp("", "mobd-load-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	d := &daemon{base: "http://" + addr, token: hex.EncodeToString(tok[:]), state: state, done: make(chan error, 1)}
	args := []string{"serve", "--runtime", "sim", "--listen", addr, "--state", filepath.Join(state, "state"),
		"--pool-size", strconv.Itoa(o.pool), "--log-level", "warn"}
	if o.sim != "" {
		args = append(args, "--runtime-bin", o.sim)
	}
	logFile, err := os.Create(filepath.Join(state, "mobd.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	d.cmd = exec.Command(o.mobd, args...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.Env = append(cleanEnv(), "MOBD_AUTH_TOKEN="+d.token, "RKAT_SIM_TOKEN_DELAY="+o.tokenDelay.String())
	// Its own process group: a Ctrl-C of this tool reaches only the tool,
	// which stops the daemon itself.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(state)
		return nil, fmt.Errorf("start %s: %w", o.mobd, err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	log.Info("mobd serve started", zap.String("binary", o.mobd), zap.Strings("args", args), zap.String("log", logFile.Name()))
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		select {
		case err := <-d.done:
			d.done <- err
			b, _ := os.ReadFile(logFile.Name())
			d.cleanup(false, log)
			return nil, fmt.Errorf("mobd exited (%v):\n%s", err, b)
		case <-ctx.Done():
			d.stop(10 * time.Second)
			d.cleanup(false, log)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop(10 * time.Second)
			d.cleanup(true, log)
			return nil, fmt.Errorf("mobd not ready after 30s (log: %s)", logFile.Name())
		}
	}
}

// cleanEnv is this process's environment without what would choose the
// daemon's runtime or settings behind the tool's back.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MEERKAT_BIN_PATH=") || strings.HasPrefix(kv, "MOBD_") || strings.HasPrefix(kv, "RKAT_SIM_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// stop sends SIGTERM and waits up to timeout (then SIGKILL). It returns how
// long the daemon took to exit and its exit error.
func (d *daemon) stop(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		return time.Since(start), err
	case <-time.After(timeout):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		err := <-d.done
		d.done <- err
		return time.Since(start), fmt.Errorf("did not stop within %s on SIGTERM (killed): %v", timeout, err)
	}
}

func (d *daemon) cleanup(keep bool, log *zap.Logger) {
	if keep {
		log.Info("state kept", zap.String("dir", d.state))
		return
	}
	_ = os.RemoveAll(d.state)
}

// ---- the API client ----

// api is an HTTP client of the daemon; requests carry the bearer token.
type api struct {
	base, token string
	http        *http.Client // requests and answers
	stream      *http.Client // event streams
}

func newAPI(base, token string, conns int) *api {
	tr := func() *http.Transport {
		return &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	return &api{base: base, token: token, http: &http.Client{Transport: tr(), Timeout: 60 * time.Second}, stream: &http.Client{Transport: tr()}}
}

// httpError is a non-2xx answer.
type httpError struct {
	status int
	code   string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d %s", e.status, e.code) }

func (a *api) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends a request and decodes a 2xx JSON answer into out.
func (a *api) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := a.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(data, &eb)
		return &httpError{status: resp.StatusCode, code: eb.Error.Code}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

func (a *api) postJSON(ctx context.Context, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.do(ctx, http.MethodPost, path, body, out)
}

// ---- setup ----

// loadDefinition is the mob of the load: a lead and a worker, and a
// three-step flow, each step one turn of one of them.
func loadDefinition(id string) map[string]any {
	step := func(role, msg string, deps ...string) map[string]any {
		s := map[string]any{"role": role, "message": msg}
		if len(deps) > 0 {
			s["depends_on"] = deps
		}
		return s
	}
	return map[string]any{
		"id":           id,
		"orchestrator": map[string]any{"profile": "lead"},
		"profiles": map[string]any{
			"lead":   map[string]any{"model": "sim-model", "peer_description": "plans and reviews"},
			"worker": map[string]any{"model": "sim-model", "peer_description": "works"},
		},
		"wiring": map[string]any{"auto_wire_orchestrator": true},
		"flows": map[string]any{
			"pipeline": map[string]any{
				"description": "plan, work, review",
				"steps": map[string]any{
					"plan":   step("lead", "echo: plan item {{ params.n }}"),
					"work":   step("worker", "echo: done {{ steps.plan }}", "plan"),
					"review": step("lead", "echo: reviewed {{ steps.work }}", "work"),
				},
			},
		},
	}
}

func setup(ctx context.Context, a *api, o options) error {
	for i := 0; i < o.mobs; i++ {
		id := mobID(i)
		if err := a.postJSON(ctx, "/v1/mobs", loadDefinition(id), nil); err != nil {
			return fmt.Errorf("create mob %s: %w", id, err)
		}
		for _, role := range []string{"lead", "worker"} {
			spec := map[string]string{"profile": role, "agent_identity": role}
			if err := a.postJSON(ctx, "/v1/mobs/"+id+"/members", spec, nil); err != nil {
				return fmt.Errorf("spawn %s of %s: %w", role, id, err)
			}
		}
	}
	return nil
}

// ---- flow run workers ----

// runSnapshot is the part of a run's status the workers read.
type runSnapshot struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func terminal(status string) bool {
	switch status {
	case "completed", "failed", "canceled":
		return true
	}
	return false
}

// worker keeps one flow run in flight on mob until load ends: it starts a
// run, polls its status until the run ends, and starts the next. The run
// in flight when load ends is still followed to its end, until drain ends.
func worker(load, drain context.Context, a *api, mob string, w int, poll time.Duration, st *stats) {
	for n := 0; load.Err() == nil; n++ {
		t0 := time.Now()
		var snap runSnapshot
		params := map[string]any{"params": map[string]any{"n": fmt.Sprintf("%d.%d", w, n)}}
		err := a.postJSON(drain, "/v1/mobs/"+mob+"/flows/pipeline/runs", params, &snap)
		st.observe(opStart, time.Since(t0), err)
		if err != nil {
			sleep(load, 100*time.Millisecond)
			continue
		}
		st.started.Add(1)
		// Poll at a jittered interval so the workers do not march in step.
		next := time.Duration(float64(poll) * (0.5 + mrand.Float64()))
		for !terminal(snap.Status) {
			if !sleep(drain, next) {
				st.unfinished.Add(1)
				return
			}
			next = poll
			t1 := time.Now()
			err := a.do(drain, http.MethodGet, "/v1/mobs/"+mob+"/runs/"+snap.RunID, nil, &snap)
			st.observe(opStatus, time.Since(t1), err)
			if err != nil && drain.Err() != nil {
				st.unfinished.Add(1)
				return
			}
		}
		st.ended(snap, time.Since(t0))
	}
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Operations whose latency is measured.
const (
	opStart  = "POST /v1/mobs/{mob}/flows/{flow}/runs"
	opStatus = "GET  /v1/mobs/{mob}/runs/{run}"
)

// stats gathers the workers' measurements.
type stats struct {
	started, completed, failed, canceled, unfinished atomic.Int64

	mu       sync.Mutex
	lat      map[string][]time.Duration
	errs     map[string]int
	runTimes []time.Duration
	reasons  map[string]int
}

func newStats() *stats {
	return &stats{lat: map[string][]time.Duration{}, errs: map[string]int{}, reasons: map[string]int{}}
}

func (s *stats) observe(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		key := op + ": " + err.Error()
		var he *httpError
		if errors.As(err, &he) {
			key = fmt.Sprintf("%s: HTTP %d %s", op, he.status, he.code)
		}
		s.errs[key]++
		return
	}
	s.lat[op] = append(s.lat[op], d)
}

func (s *stats) ended(snap runSnapshot, d time.Duration) {
	switch snap.Status {
	case "completed":
		s.completed.Add(1)
	case "failed":
		s.failed.Add(1)
	default:
		s.canceled.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runTimes = append(s.runTimes, d)
	if snap.Status != "completed" {
		s.reasons[snap.Status+": "+snap.Reason]++
	}
}

// statsSummary is what the report shows of the stats.
type statsSummary struct {
	started, completed, failed, canceled, unfinished int64
	lat                                              map[string]latency
	errs                                             map[string]int
	runTime                                          latency
	reasons                                          map[string]int
}

// latency is a distribution's percentiles.
type latency struct {
	n                       int
	p50, p90, p99, max, avg time.Duration
}

func percentiles(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latency{n: len(s), p50: at(0.50), p90: at(0.90), p99: at(0.99), max: s[len(s)-1], avg: sum / time.Duration(len(s))}
}

func (s *stats) summary() statsSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := statsSummary{
		started: s.started.Load(), completed: s.completed.Load(), failed: s.failed.Load(),
		canceled: s.canceled.Load(), unfinished: s.unfinished.Load(),
		lat: map[string]latency{}, errs: maps.Clone(s.errs), runTime: percentiles(s.runTimes), reasons: maps.Clone(s.reasons),
	}
	for op, ds := range s.lat {
		out.lat[op] = percentiles(ds)
	}
	return out
}

// progress logs a line every 10 s while the load runs.
func progress(ctx context.Context, log *zap.Logger, st *stats, subs []*subscriber, start time.Time) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var delivered, reconnects int64
		for _, s := range subs {
			delivered += s.count.Load()
			reconnects += s.reconnects.Load()
		}
		log.Info("progress", zap.Duration("elapsed", time.Since(start).Round(time.Second)),
			zap.Int64("runs_started", st.started.Load()), zap.Int64("runs_completed", st.completed.Load()),
			zap.Int64("events_delivered", delivered), zap.Int64("reconnects", reconnects))
	}
}

// ---- SSE subscribers ----

// subscriber follows /v1/events with query from cursor last, reconnecting
// with Last-Event-ID: after a random time around reconnect (a deliberate
// drop) or a failure, and records the id of every event it gets.
type subscriber struct {
	api       *api
	query     url.Values
	reconnect time.Duration
	log       *zap.Logger

	mu         sync.Mutex
	last       uint64
	ids        []uint64
	count      atomic.Int64
	reconnects atomic.Int64
	failures   atomic.Int64
	lastErr    string
}

func (s *subscriber) lastSeen() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *subscriber) run(ctx context.Context) {
	for ctx.Err() == nil {
		connCtx, cancel := context.WithCancel(ctx)
		if s.reconnect > 0 {
			d := time.Duration(float64(s.reconnect) * (0.5 + mrand.Float64()))
			time.AfterFunc(d, cancel)
		}
		err := s.stream(connCtx)
		dropped := connCtx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		if dropped {
			s.reconnects.Add(1)
			continue
		}
		s.failures.Add(1)
		s.mu.Lock()
		s.lastErr = fmt.Sprint(err)
		s.mu.Unlock()
		sleep(ctx, 100*time.Millisecond)
	}
}

// stream reads one connection's events until it ends.
func (s *subscriber) stream(ctx context.Context) error {
	req, err := s.api.request(ctx, http.MethodGet, "/v1/events?"+s.query.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", strconv.FormatUint(s.lastSeen(), 10))
	resp, err := s.api.stream.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &httpError{status: resp.StatusCode}
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var id string
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				// A long data line: only id lines matter here.
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				if err == nil {
					continue
				}
			}
			return err
		}
		switch {
		case bytes.HasPrefix(line, []byte("id: ")):
			id = string(bytes.TrimSpace(line[4:]))
		case len(bytes.TrimSpace(line)) == 0:
			if id == "" {
				continue // a heartbeat comment's end
			}
			n, err := strconv.ParseUint(id, 10, 64)
			id = ""
			if err != nil {
				return fmt.Errorf("bad event id: %w", err)
			}
			s.mu.Lock()
			s.ids = append(s.ids, n)
			s.last = n
			s.mu.Unlock()
			s.count.Add(1)
		}
	}
}

// waitSubscribed waits until the daemon counts n open event streams
// (mobd_sse_subscribers), so that the load starts with every subscriber
// connected.
func waitSubscribed(ctx context.Context, a *api, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := scrapeMetrics(ctx, a)
		if int(m["mobd_sse_subscribers"]) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %v of %d subscribers connected after 30s", m["mobd_sse_subscribers"], n)
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// journalIDs returns the ids of the journal's events matching query after
// cursor, read with GET /v1/events?follow=false (in pages, resuming with
// Last-Event-ID as a client would).
func journalIDs(ctx context.Context, a *api, query url.Values, after uint64) ([]uint64, error) {
	s := &subscriber{api: a, query: cloneValues(query), last: after}
	s.query.Set("follow", "false")
	for {
		before := s.lastSeen()
		if err := s.stream(ctx); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if s.lastSeen() == before {
			return s.ids, nil
		}
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// lastCursor returns the id of the journal's last event matching query.
func lastCursor(ctx context.Context, a *api, query url.Values) (uint64, error) {
	ids, err := journalIDs(ctx, a, query, 0)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[len(ids)-1], nil
}

// eventTypes counts the journal's events after cursor by type.
func eventTypes(ctx context.Context, a *api, after uint64) (map[string]int, error) {
	req, err := a.request(ctx, http.MethodGet, "/v1/events?follow=false", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	resp, err := a.stream.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			out[name]++
		}
	}
	return out, sc.Err()
}

// ---- memory and metrics ----

// memSampler samples the daemon's VmRSS every half second.
type memSampler struct {
	pid     int
	mu      sync.Mutex
	peakRSS int64 // KiB
	peakGR  float64
}

func (m *memSampler) run(ctx context.Context, a *api) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for n := 0; ; n++ {
		if st, err := procStatus(m.pid); err == nil {
			m.mu.Lock()
			m.peakRSS = max(m.peakRSS, st["VmRSS"])
			m.mu.Unlock()
		}
		if n%4 == 0 {
			g := scrapeMetrics(ctx, a)["go_goroutines"]
			m.mu.Lock()
			m.peakGR = max(m.peakGR, g)
			m.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// memReport is the daemon's and its runtimes' memory.
type memReport struct {
	hwm, rss, sampledPeak int64 // KiB
	peakGoroutines        float64
	runtimes              []int64 // VmRSS KiB of each runtime process
	runtimesHWM           []int64
	runtimesCPU           float64 // CPU seconds of the runtime processes since they started
	err                   error
}

func (m *memSampler) final(a *api) memReport {
	var r memReport
	st, err := procStatus(m.pid)
	if err != nil {
		r.err = err
	}
	r.hwm, r.rss = st["VmHWM"], st["VmRSS"]
	m.mu.Lock()
	r.sampledPeak, r.peakGoroutines = m.peakRSS, m.peakGR
	m.mu.Unlock()
	var rts []struct {
		PID int `json:"pid"`
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if a.do(ctx, http.MethodGet, "/v1/runtimes", nil, &rts) == nil {
		for _, rt := range rts {
			if s, err := procStatus(rt.PID); err == nil {
				r.runtimes = append(r.runtimes, s["VmRSS"])
				r.runtimesHWM = append(r.runtimesHWM, s["VmHWM"])
				r.runtimesCPU += procCPU(rt.PID)
			}
		}
	}
	return r
}

// selfCPU returns the CPU seconds (user and system) this process used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// procCPU returns the CPU seconds (user and system) process pid used, from
// /proc/<pid>/stat, or 0.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields start after its ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on Linux
// for every architecture Go supports.
const clockTicks = 100

// procStatus reads the kB fields of /proc/<pid>/status.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	return out, nil
}

// scrapeMetrics reads /metrics and returns its unlabelled samples, and the
// sum over labels of the labelled ones, by metric name.
func scrapeMetrics(ctx context.Context, a *api) map[string]float64 {
	out := map[string]float64{}
	req, err := a.request(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			name, rest, ok = line[:i], strings.TrimSpace(line[j+1:]), j > i
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

// ---- the report ----

// report is what a load run measured.
type report struct {
	cpus                  int
	loadTime, drainTime   time.Duration
	catchUp               time.Duration
	stats                 statsSummary
	journaled             int
	firstCursor           uint64
	lastCursor            uint64
	eventTypes            map[string]int
	subs                  int
	subsExact             int
	delivered             int64
	lost, dup, disordered int
	extra                 int
	reconnects, failures  int64
	failureSamples        []string
	byFilter              map[string][2]int // filter → subscribers, events each
	mem                   memReport
	metrics               map[string]float64
	daemonCPU, toolCPU    float64 // CPU seconds from the start of the load to the end of the last run
	shutdown              time.Duration
	exitErr               error
}

// addSubscriber compares a subscriber's ids with ref, the journal's.
func (r *report) addSubscriber(s *subscriber, ref []uint64) {
	s.mu.Lock()
	ids := slices.Clone(s.ids)
	lastErr := s.lastErr
	s.mu.Unlock()
	r.subs++
	r.delivered += int64(len(ids))
	r.reconnects += s.reconnects.Load()
	if f := s.failures.Load(); f > 0 {
		r.failures += f
		if len(r.failureSamples) < 3 {
			r.failureSamples = append(r.failureSamples, lastErr)
		}
	}
	if r.byFilter == nil {
		r.byFilter = map[string][2]int{}
	}
	key := s.query.Encode()
	if key == "" {
		key = "all events"
	}
	c := r.byFilter[key]
	r.byFilter[key] = [2]int{c[0] + 1, len(ref)}
	if slices.Equal(ids, ref) {
		r.subsExact++
		return
	}
	want := make(map[uint64]bool, len(ref))
	for _, id := range ref {
		want[id] = true
	}
	seen := make(map[uint64]bool, len(ids))
	for i, id := range ids {
		switch {
		case seen[id]:
			r.dup++
		case !want[id]:
			r.extra++
		}
		if i > 0 && id <= ids[i-1] {
			r.disordered++
		}
		seen[id] = true
	}
	for _, id := range ref {
		if !seen[id] {
			r.lost++
		}
	}
}

func (r *report) ok() bool {
	s := r.stats
	return r.subsExact == r.subs && r.lost == 0 && r.dup == 0 && r.disordered == 0 && r.extra == 0 &&
		s.started > 0 && s.completed == s.started && s.unfinished == 0 && r.exitErr == nil
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func (r *report) print(w io.Writer, o options) {
	s := r.stats
	secs := r.loadTime.Seconds()
	if secs == 0 {
		secs = 1
	}
	fmt.Fprintf(w, "\n== mobd load: %s on loopback, %d CPUs ==\n", r.loadTime.Round(time.Millisecond), r.cpus)
	fmt.Fprintf(w, "setup:    mobd serve --runtime sim, pool %d rkat-sim runtimes (token delay %s); %d mobs of a lead and a worker;\n",
		o.pool, o.tokenDelay, o.mobs)
	fmt.Fprintf(w, "          %d flow runs kept in flight (3 steps: plan → work → review, one turn each; status polled every %s);\n", o.runs, o.poll)
	fmt.Fprintf(w, "          %d SSE subscribers of /v1/events (half unfiltered, half one mob's), each resuming with Last-Event-ID every ~%s\n",
		o.subscribers, o.reconnect)
	fmt.Fprintf(w, "runs:     %d started (%.1f/s), %d completed, %d failed, %d canceled, %d unfinished; in-flight runs drained in %s\n",
		s.started, float64(s.started)/secs, s.completed, s.failed, s.canceled, s.unfinished, r.drainTime.Round(time.Millisecond))
	for k, n := range s.reasons {
		fmt.Fprintf(w, "          %d× %s\n", n, k)
	}
	if s.runTime.n > 0 {
		fmt.Fprintf(w, "          run wall time (POST to terminal status seen): p50 %s  p99 %s  max %s\n",
			ms(s.runTime.p50), ms(s.runTime.p99), ms(s.runTime.max))
	}
	fmt.Fprintf(w, "API latency (client-side, keep-alive HTTP/1.1, bearer auth):\n")
	for _, op := range []string{opStart, opStatus} {
		l := s.lat[op]
		fmt.Fprintf(w, "  %-40s n=%-7d p50 %-9s p90 %-9s p99 %-9s max %-9s (%.0f/s)\n", op, l.n, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), float64(l.n)/secs)
	}
	if len(s.errs) == 0 {
		fmt.Fprintf(w, "  errors: none\n")
	}
	for k, n := range s.errs {
		fmt.Fprintf(w, "  error: %d× %s\n", n, k)
	}
	fmt.Fprintf(w, "events:   %d journaled from the start of the load to the end of the last run (cursors %d…%d, %.0f/s)", r.journaled, r.firstCursor, r.lastCursor, float64(r.journaled)/secs)
	if len(r.eventTypes) > 0 {
		keys := slices.Sorted(maps.Keys(r.eventTypes))
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.eventTypes[k]))
		}
		fmt.Fprintf(w, ": %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "          %d delivered over SSE (%.0f/s) to %d subscribers; %d reconnects with Last-Event-ID, %d stream failures\n",
		r.delivered, float64(r.delivered)/secs, r.subs, r.reconnects, r.failures)
	if c, ok := r.byFilter["all events"]; ok {
		fmt.Fprintf(w, "          %d subscribers of all events: the journal holds %d for each\n", c[0], c[1])
	}
	var mobSubs, filters, lo, hi int
	for k, c := range r.byFilter {
		if k == "all events" {
			continue
		}
		if filters == 0 || c[1] < lo {
			lo = c[1]
		}
		hi = max(hi, c[1])
		mobSubs, filters = mobSubs+c[0], filters+1
	}
	if filters > 0 {
		fmt.Fprintf(w, "          %d subscribers of one mob's events (?mob=, %d mobs): the journal holds %d to %d for each\n", mobSubs, filters, lo, hi)
	}
	verdict := "OK"
	if r.subsExact != r.subs || r.lost+r.dup+r.disordered+r.extra > 0 {
		verdict = "MISMATCH"
	}
	fmt.Fprintf(w, "          vs journal (GET /v1/events?follow=false): %d/%d subscribers got exactly the journal's events in order; "+
		"lost %d, duplicated %d, out of order %d, unknown %d → %s (caught up %s after the last run)\n",
		r.subsExact, r.subs, r.lost, r.dup, r.disordered, r.extra, verdict, r.catchUp.Round(time.Millisecond))
	for _, f := range r.failureSamples {
		fmt.Fprintf(w, "          stream failure: %s\n", f)
	}
	m := r.mem
	if m.err != nil {
		fmt.Fprintf(w, "daemon:   memory: %v\n", m.err)
	} else {
		fmt.Fprintf(w, "daemon:   RSS peak %s (VmHWM), sampled peak %s, at the end %s (VmRSS); peak goroutines %.0f\n",
			mib(m.hwm), mib(m.sampledPeak), mib(m.rss), m.peakGoroutines)
	}
	if busy := r.loadTime + r.drainTime; busy > 0 {
		fmt.Fprintf(w, "cpu:      daemon %.1f s (%.2f cores), this load tool %.1f s (%.2f cores) over the %s of load and drain, on %d CPUs shared with the runtimes\n",
			r.daemonCPU, r.daemonCPU/busy.Seconds(), r.toolCPU, r.toolCPU/busy.Seconds(), busy.Round(time.Millisecond), r.cpus)
	}
	if len(m.runtimes) > 0 {
		var rs, hs []string
		for i := range m.runtimes {
			rs = append(rs, mib(m.runtimes[i]))
			hs = append(hs, mib(m.runtimesHWM[i]))
		}
		fmt.Fprintf(w, "runtimes: rkat-sim VmRSS %s (peaks %s); %.1f CPU seconds in all since they started\n",
			strings.Join(rs, ", "), strings.Join(hs, ", "), m.runtimesCPU)
	}
	if len(r.metrics) > 0 {
		fmt.Fprintf(w, "metrics:  mobd_turns_total %.0f, mobd_tokens_total %.0f, mobd_http_requests_total %.0f, go_memstats_heap_inuse_bytes %s, mobd_runtimes_running %.0f\n",
			r.metrics["mobd_turns_total"], r.metrics["mobd_tokens_total"], r.metrics["mobd_http_requests_total"],
			mib(int64(r.metrics["go_memstats_heap_inuse_bytes"]/1024)), r.metrics["mobd_runtimes_running"])
	}
	status := "exit 0"
	if r.exitErr != nil {
		status = r.exitErr.Error()
	}
	fmt.Fprintf(w, "shutdown: SIGTERM → %s in %s\n", status, r.shutdown.Round(time.Millisecond))
	if r.ok() {
		fmt.Fprintf(w, "result:   PASS\n")
	} else {
		fmt.Fprintf(w, "result:   FAIL\n")
	}
}
