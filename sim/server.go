package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// maxLineBytes is the longest request line accepted (the SDK's limit).
const maxLineBytes = 64 << 20

var (
	errRequestCancelled = errors.New("request cancelled by client")
	errInterrupted      = errors.New("turn interrupted")
	errSessionArchived  = errors.New("session archived")
	errConnClosed       = errors.New("client input closed")
)

// Serve runs the runtime over r (requests) and w (responses/notifications) until r hits EOF or ctx is done. Returns nil on clean EOF.
//
// Every request is handled in its own goroutine; Serve waits for all of them
// (and for background work such as mob flows, which is cancelled at EOF)
// before returning. If ctx is cancelled while a Read on r is blocked, Serve
// returns without waiting for that Read: its reader goroutine exits as soon
// as r returns, so close r to release it. After a [[sim:crash]] directive
// Serve returns ErrSimulatedCrash; after [[sim:hang]] it ignores EOF and
// returns only when ctx is done, and after [[sim:hang hard]] it never
// returns (use that one only in the executable).
func Serve(ctx context.Context, r io.Reader, w io.Writer, opts Options) error {
	opts = opts.withDefaults()
	sc, err := loadScript(opts.ScriptPath)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	rl, err := openRealm(opts)
	if err != nil {
		return err
	}
	s := &server{
		opts:      opts,
		log:       opts.Logger,
		realm:     rl,
		script:    sc,
		inflight:  make(map[string]context.CancelCauseFunc),
		cbPending: make(map[string]chan callbackReply),
		tools:     make(map[string]toolDef),
		hangCh:    make(chan struct{}),
		crashCh:   make(chan struct{}),
	}
	s.streams = newStreamHub()
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.bgCtx, s.bgCancel = context.WithCancel(s.ctx)
	s.out, err = newOutWriter(w, opts.TranscriptPath, s.log, func(err error) { s.cancel(err) })
	if err != nil {
		s.bgCancel()
		s.cancel(nil)
		return fmt.Errorf("sim: %w", err)
	}
	s.methods = s.methodTable()
	s.log.Debug("rkat-sim serving", zap.String("realm", rl.id), zap.String("backend", rl.backend),
		zap.Bool("persistent", rl.persistent()), zap.Strings("args", opts.Args))
	return s.run(ctx, r)
}

// server is one simulated runtime connection.
type server struct {
	opts    Options
	log     *zap.Logger
	out     *outWriter
	realm   *realm
	script  *script
	methods map[string]handlerFunc
	streams *streamHub

	ctx      context.Context
	cancel   context.CancelCauseFunc
	bgCtx    context.Context
	bgCancel context.CancelFunc
	reqWG    sync.WaitGroup
	bgWG     sync.WaitGroup

	inflightMu sync.Mutex
	inflight   map[string]context.CancelCauseFunc

	cbMu      sync.Mutex
	cbSeq     uint64
	cbPending map[string]chan callbackReply
	cbClosed  bool

	toolsMu sync.RWMutex
	tools   map[string]toolDef

	hung      atomic.Bool
	hardHang  atomic.Bool
	hangOnce  sync.Once
	hangCh    chan struct{}
	crashOnce sync.Once
	crashCh   chan struct{}
}

// reqCtx carries one request through its handler.
type reqCtx struct {
	ctx    context.Context
	id     json.RawMessage
	method string
	params json.RawMessage
	after  []func() // run after the response is written
}

type handlerFunc func(rc *reqCtx) (any, *rpcError)

// callbackReply is the client's answer to a server→client request.
type callbackReply struct {
	result json.RawMessage
	err    *rpcError
	closed bool
}

// run is the read/dispatch loop.
func (s *server) run(parent context.Context, r io.Reader) error {
	lines := make(chan []byte)
	readDone := make(chan error, 1)
	stop := make(chan struct{})
	go readLines(r, lines, readDone, stop)
	defer close(stop)
	for {
		select {
		case line := <-lines:
			s.dispatch(line)
		case err := <-readDone:
			return s.finishAtEOF(parent, err)
		case <-s.ctx.Done():
			return s.shutdown(parent)
		case <-s.crashCh:
			return s.shutdown(parent)
		}
	}
}

// readLines splits r into lines (64 MiB max each; longer lines are replaced
// by a nil slice so the dispatcher answers with a parse error).
func readLines(r io.Reader, lines chan<- []byte, done chan<- error, stop <-chan struct{}) {
	br := bufio.NewReaderSize(r, 64<<10)
	var acc []byte
	tooLong := false
	send := func(b []byte) bool {
		select {
		case lines <- b:
			return true
		case <-stop:
			return false
		}
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(acc)+len(chunk) > maxLineBytes+1 {
				tooLong, acc = true, nil
			} else {
				acc = append(acc, chunk...)
			}
		}
		switch {
		case err == nil || (errors.Is(err, io.EOF) && (len(acc) > 0 || tooLong)):
			var line []byte
			if !tooLong {
				line = bytes.TrimRight(acc, "\r\n")
				if line == nil {
					line = []byte{}
				}
			}
			if !send(line) {
				return
			}
			acc, tooLong = nil, false
			if err != nil {
				done <- err
				return
			}
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			done <- err
			return
		}
	}
}

// finishAtEOF drains in-flight work after the client closed its input.
func (s *server) finishAtEOF(parent context.Context, readErr error) error {
	s.failCallbacks()
	idle := make(chan struct{})
	go func() { s.reqWG.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-s.ctx.Done():
		return s.shutdown(parent)
	case <-s.crashCh:
		return s.shutdown(parent)
	case <-s.hangCh:
		if s.hardHang.Load() {
			s.hangForever()
		}
		select {
		case <-s.ctx.Done():
		case <-s.crashCh:
		}
		return s.shutdown(parent)
	}
	if s.hardHang.Load() {
		s.hangForever()
	}
	s.bgCancel()
	s.bgWG.Wait()
	s.cancel(nil)
	if err := s.out.close(); err != nil {
		return err
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		return fmt.Errorf("sim: read input: %w", readErr)
	}
	return nil
}

// shutdown stops everything after cancellation or a simulated crash.
func (s *server) shutdown(parent context.Context) error {
	if s.hardHang.Load() {
		s.hangForever()
	}
	crashed := false
	select {
	case <-s.crashCh:
		crashed = true
		s.cancel(ErrSimulatedCrash)
	default:
		s.cancel(context.Canceled)
	}
	s.failCallbacks()
	s.bgCancel()
	s.reqWG.Wait()
	s.bgWG.Wait()
	closeErr := s.out.close()
	switch {
	case crashed:
		return ErrSimulatedCrash
	case parent.Err() != nil:
		return parent.Err()
	}
	if cause := context.Cause(s.ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return closeErr
}

// hangForever implements [[sim:hang hard]]: Serve never returns, whatever
// happens to its input or context, so only killing the process ends it. It
// sleeps rather than blocking on a channel so the runtime's deadlock detector
// cannot end the process either.
func (s *server) hangForever() {
	s.log.Warn("hard hang: ignoring EOF and cancellation until killed")
	for {
		time.Sleep(time.Hour)
	}
}

// crash simulates a process crash: output stops at once and Serve returns
// ErrSimulatedCrash.
func (s *server) crash() {
	s.out.kill()
	s.crashOnce.Do(func() { close(s.crashCh) })
}

// hang stops all output; requests are read and dropped from now on.
func (s *server) hang(hard bool) {
	s.out.kill()
	if hard {
		s.hardHang.Store(true)
	}
	s.hung.Store(true)
	s.hangOnce.Do(func() { close(s.hangCh) })
}

// ---- dispatch ----

type inbound struct {
	JSONRPC *string         `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

var nullID = json.RawMessage("null")

func (s *server) dispatch(line []byte) {
	if line == nil {
		s.respondError(nullID, "", newError(codeParseError, "Parse error: line exceeds %d bytes", maxLineBytes))
		return
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if s.hung.Load() {
		return
	}
	var msg inbound
	if err := json.Unmarshal(line, &msg); err != nil {
		if !json.Valid(line) {
			s.respondError(nullID, "", newError(codeParseError, "Parse error: %v", err))
		} else {
			s.respondError(nullID, "", newError(codeInvalidRequest, "Invalid Request: %v", err))
		}
		return
	}
	idKind := jsonKind(msg.ID)
	validID := idKind == "string" || idKind == "number" || idKind == "null"
	switch {
	case msg.Method != nil && msg.ID != nil:
		if !validID {
			s.respondError(nullID, "", newError(codeInvalidRequest, "Invalid Request: id must be a string, number or null"))
			return
		}
		id, _ := compactJSON(msg.ID)
		if msg.JSONRPC == nil || *msg.JSONRPC != "2.0" {
			s.respondError(id, *msg.Method, newError(codeInvalidRequest, `Invalid Request: jsonrpc must be "2.0"`))
			return
		}
		s.startRequest(id, *msg.Method, msg.Params)
	case msg.Method != nil:
		s.handleNotification(*msg.Method, msg.Params)
	case msg.ID != nil && (msg.Result != nil || msg.Error != nil):
		s.routeCallbackReply(msg.ID, msg.Result, msg.Error)
	default:
		id := nullID
		if validID && msg.ID != nil {
			id, _ = compactJSON(msg.ID)
		}
		s.respondError(id, "", newError(codeInvalidRequest, "Invalid Request: missing method"))
	}
}

func (s *server) startRequest(id json.RawMessage, method string, params json.RawMessage) {
	key := string(id)
	ctx, cancel := context.WithCancelCause(s.ctx)
	s.inflightMu.Lock()
	s.inflight[key] = cancel
	s.inflightMu.Unlock()
	s.reqWG.Add(1)
	go func() {
		defer s.reqWG.Done()
		defer func() {
			s.inflightMu.Lock()
			delete(s.inflight, key)
			s.inflightMu.Unlock()
			cancel(nil)
		}()
		s.handleRequest(&reqCtx{ctx: ctx, id: id, method: method, params: params})
	}()
}

func (s *server) handleRequest(rc *reqCtx) {
	if !isTurnMethod(rc.method) {
		if d, ok := s.script.forMethod(rc.method); ok {
			if !s.applyMethodDirectives(rc, d) {
				return
			}
		}
	}
	h := s.methods[rc.method]
	if h == nil {
		s.respondError(rc.id, rc.method, newError(codeMethodNotFound, "Method not found: %s", rc.method))
		return
	}
	result, rerr := h(rc)
	if errors.Is(context.Cause(rc.ctx), ErrSimulatedCrash) || s.hung.Load() {
		return
	}
	if rerr != nil {
		s.respondError(rc.id, rc.method, rerr)
	} else {
		s.respond(rc.id, rc.method, result)
	}
	for _, f := range rc.after {
		f()
	}
}

// applyMethodDirectives runs script directives bound to a non-turn method;
// it returns false if the request has been fully dealt with.
func (s *server) applyMethodDirectives(rc *reqCtx, d directives) bool {
	if d.hasSlow && !sleepCtx(rc.ctx, d.slow) {
		return false
	}
	if d.garbage {
		s.out.writeGarbage(garbageLine)
	}
	switch {
	case d.crash:
		s.crash()
		return false
	case d.hang:
		s.hang(d.hangHard)
		<-rc.ctx.Done()
		return false
	case d.err != nil:
		s.respondError(rc.id, rc.method, d.err)
		return false
	}
	return true
}

func isTurnMethod(m string) bool {
	return m == "session/create" || m == "turn/start" || m == "mob/turn_start"
}

// respond writes a success response.
func (s *server) respond(id json.RawMessage, method string, result any) {
	var body []byte
	switch v := result.(type) {
	case json.RawMessage:
		body = v
	case nil:
		body = []byte("null")
	default:
		b, err := marshal(v)
		if err != nil {
			s.respondError(id, method, internalError(err))
			return
		}
		body = b
	}
	msg := make([]byte, 0, len(body)+len(id)+40)
	msg = append(msg, `{"jsonrpc":"2.0","id":`...)
	msg = append(msg, id...)
	msg = append(msg, `,"result":`...)
	msg = append(msg, body...)
	msg = append(msg, '}')
	s.out.write(kindResponse, method, msg, false, true)
}

// respondError writes an error response.
func (s *server) respondError(id json.RawMessage, method string, e *rpcError) {
	if len(id) == 0 {
		id = nullID
	}
	msg := append([]byte(`{"jsonrpc":"2.0","id":`), id...)
	msg = append(msg, `,"error":`...)
	msg = append(msg, mustMarshal(e)...)
	msg = append(msg, '}')
	s.out.write(kindResponse, method, msg, false, true)
}

// notify writes a notification whose params are already encoded.
func (s *server) notify(method string, params []byte) {
	msg := make([]byte, 0, len(params)+len(method)+40)
	msg = append(msg, `{"jsonrpc":"2.0","method":`...)
	msg = appendJSONString(msg, method)
	msg = append(msg, `,"params":`...)
	msg = append(msg, params...)
	msg = append(msg, '}')
	s.out.write(kindNotification, method, msg, false, true)
}

func (s *server) handleNotification(method string, params json.RawMessage) {
	switch method {
	case "initialized":
	case "cancel":
		var p struct {
			ID        json.RawMessage `json:"id"`
			RequestID json.RawMessage `json:"request_id"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			s.log.Debug("ignoring malformed cancel", zap.Error(err))
			return
		}
		id := p.ID
		if len(id) == 0 {
			id = p.RequestID
		}
		key, err := compactJSON(id)
		if err != nil {
			return
		}
		s.inflightMu.Lock()
		cancel := s.inflight[string(key)]
		s.inflightMu.Unlock()
		if cancel != nil {
			cancel(errRequestCancelled)
		}
	default:
		s.log.Debug("ignoring notification", zap.String("method", method))
	}
}

// ---- server → client requests ----

// callClient sends a request to the client and waits for its reply.
func (s *server) callClient(ctx context.Context, method string, params any) (callbackReply, error) {
	s.cbMu.Lock()
	if s.cbClosed {
		s.cbMu.Unlock()
		return callbackReply{}, errConnClosed
	}
	s.cbSeq++
	id := "cb-" + strconv.FormatUint(s.cbSeq, 10)
	ch := make(chan callbackReply, 1)
	s.cbPending[id] = ch
	s.cbMu.Unlock()
	defer func() {
		s.cbMu.Lock()
		delete(s.cbPending, id)
		s.cbMu.Unlock()
	}()
	msg := mustMarshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", id, method, params})
	s.out.write(kindRequest, method, msg, false, true)
	select {
	case rep := <-ch:
		if rep.closed {
			return rep, errConnClosed
		}
		return rep, nil
	case <-ctx.Done():
		return callbackReply{}, context.Cause(ctx)
	}
}

func (s *server) routeCallbackReply(rawID, result, errRaw json.RawMessage) {
	var id string
	if err := json.Unmarshal(rawID, &id); err != nil {
		id = string(rawID)
	}
	s.cbMu.Lock()
	ch := s.cbPending[id]
	delete(s.cbPending, id)
	s.cbMu.Unlock()
	if ch == nil {
		s.log.Debug("reply for unknown callback", zap.String("id", id))
		return
	}
	rep := callbackReply{result: result}
	if len(errRaw) > 0 && !isJSONNull(errRaw) {
		e := &rpcError{}
		if err := json.Unmarshal(errRaw, e); err != nil || e.Message == "" {
			e = &rpcError{Code: codeInternalError, Message: string(errRaw)}
		}
		rep.err = e
	}
	ch <- rep
}

// failCallbacks fails every pending and future callback (no more replies
// can arrive).
func (s *server) failCallbacks() {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.cbClosed = true
	for id, ch := range s.cbPending {
		ch <- callbackReply{closed: true}
		delete(s.cbPending, id)
	}
}

// ---- background work ----

// goBackground runs f as owned background work; it is cancelled at EOF and
// on shutdown.
func (s *server) goBackground(f func(ctx context.Context)) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f(s.bgCtx)
	}()
}

// sleepCtx sleeps for d; it returns false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ---- params ----

// decodeParams decodes request params (absent/null = {}) into dst.
func decodeParams(raw json.RawMessage, dst any) *rpcError {
	switch jsonKind(raw) {
	case "", "null":
		raw = json.RawMessage("{}")
	case "object":
	default:
		return invalidParams("Invalid params: params must be an object")
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalidParams("Invalid params: %v", err)
	}
	return nil
}

// paramsObject decodes params into a field map.
func paramsObject(raw json.RawMessage) (map[string]json.RawMessage, *rpcError) {
	m := map[string]json.RawMessage{}
	if rerr := decodeParams(raw, &m); rerr != nil {
		return nil, rerr
	}
	return m, nil
}

// ---- handshake ----

func (s *server) methodTable() map[string]handlerFunc {
	m := map[string]handlerFunc{
		"initialize":           s.handleInitialize,
		"initialized":          func(*reqCtx) (any, *rpcError) { return json.RawMessage("{}"), nil },
		"capabilities/get":     s.handleCapabilities,
		"tools/register":       s.handleToolsRegister,
		"session/create":       s.handleSessionCreate,
		"session/list":         s.handleSessionList,
		"session/read":         s.handleSessionRead,
		"session/history":      s.handleSessionHistory,
		"session/archive":      s.handleSessionArchive,
		"session/input_status": s.handleInputStatus,
		"session/stream_open":  s.handleSessionStreamOpen,
		"session/stream_close": s.handleSessionStreamClose,
		"turn/start":           s.handleTurnStart,
		"turn/interrupt":       s.handleTurnInterrupt,
		"config/get":           s.handleConfigGet,
		"config/set":           s.handleConfigSet,
		"config/patch":         s.handleConfigPatch,
		"skills/list":          s.handleSkillsList,
		"comms/send":           s.handleCommsSend,
		"comms/peers":          s.handleCommsPeers,
	}
	for name, h := range s.mobMethods() {
		m[name] = h
	}
	return m
}

func (s *server) methodNames() []string {
	names := make([]string, 0, len(s.methods))
	for n := range s.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *server) handleInitialize(*reqCtx) (any, *rpcError) {
	type serverInfo struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	return struct {
		ServerInfo      serverInfo `json:"server_info"`
		ContractVersion string     `json:"contract_version"`
		Methods         []string   `json:"methods"`
	}{serverInfo{"rkat-sim", s.opts.ContractVersion}, s.opts.ContractVersion, s.methodNames()}, nil
}

type capabilityEntry struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Status      any    `json:"status"`
}

func (s *server) handleCapabilities(*reqCtx) (any, *rpcError) {
	avail := "Available"
	policy := func(d string) any {
		return map[string]map[string]string{"DisabledByPolicy": {"description": d}}
	}
	notCompiled := func(f string) any {
		return map[string]map[string]string{"NotCompiled": {"feature": f}}
	}
	caps := []capabilityEntry{
		{"sessions", "Session lifecycle management", avail},
		{"streaming", "Streaming agent events", avail},
		{"structured_output", "Structured output extraction", avail},
		{"hooks", "Run hooks", avail},
		{"builtins", "Built-in tools", avail},
		{"shell", "Shell command execution", policy("Disabled by config")},
		{"comms", "Inter-agent communication", avail},
		{"memory_store", "Semantic memory store", notCompiled("memory-store")},
		{"schedule", "Scheduled work", policy("Scheduling is not simulated")},
		{"work_graph", "WorkGraph tracking", map[string]map[string]string{"NotSupportedByProtocol": {"reason": "rkat-sim does not simulate WorkGraph"}}},
		{"session_store", "Persistent session store", avail},
		{"session_compaction", "Session history compaction", avail},
		{"skills", "Skill loading and invocation", avail},
		{"mcp_live", "Live MCP server management", notCompiled("mcp")},
		{"adaptive_flow", "Adaptive flows", notCompiled("adaptive-flow")},
	}
	maj, minor, patch := contractTriple(s.opts.ContractVersion)
	return struct {
		ContractVersion struct {
			Major uint64 `json:"major"`
			Minor uint64 `json:"minor"`
			Patch uint64 `json:"patch"`
		} `json:"contract_version"`
		Capabilities []capabilityEntry `json:"capabilities"`
	}{
		ContractVersion: struct {
			Major uint64 `json:"major"`
			Minor uint64 `json:"minor"`
			Patch uint64 `json:"patch"`
		}{maj, minor, patch},
		Capabilities: caps,
	}, nil
}

// ---- callback tools ----

// toolDef is a client-registered callback tool.
type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

func (s *server) handleToolsRegister(rc *reqCtx) (any, *rpcError) {
	var p struct {
		Tools *[]toolDef `json:"tools"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.Tools == nil {
		return nil, invalidParams("Invalid params: missing field `tools`")
	}
	for i, t := range *p.Tools {
		if t.Name == "" {
			return nil, invalidParams("Invalid params: tools[%d]: missing field `name`", i)
		}
	}
	s.toolsMu.Lock()
	for _, t := range *p.Tools {
		s.tools[t.Name] = t
	}
	s.toolsMu.Unlock()
	return struct {
		Registered int `json:"registered"`
	}{len(*p.Tools)}, nil
}

// mentionedTools returns a call for each registered tool whose name
// appears in prompt, in name order. String arguments take the prompt's last
// capitalised word (or "example"), numbers its first number (or 1), booleans
// true.
func (s *server) mentionedTools(prompt string) []toolCall {
	s.toolsMu.RLock()
	defer s.toolsMu.RUnlock()
	var names []string
	for name := range s.tools {
		if strings.Contains(prompt, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	calls := make([]toolCall, 0, len(names))
	for _, name := range names {
		calls = append(calls, toolCall{name: name, args: argsFromSchema(s.tools[name].InputSchema, prompt)})
	}
	return calls
}

// argsFromSchema makes deterministic arguments for a tool's input schema.
func argsFromSchema(schema json.RawMessage, prompt string) json.RawMessage {
	var sc struct {
		Properties map[string]struct {
			Type string `json:"type"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(schema, &sc)
	word := "example"
	for _, w := range strings.Fields(prompt) {
		w = strings.Trim(w, ".,;:!?\"'()")
		if w != "" && w[0] >= 'A' && w[0] <= 'Z' {
			word = w
		}
	}
	num := 1.0
	if m := reNumber.FindString(prompt); m != "" {
		if f, err := strconv.ParseFloat(m, 64); err == nil {
			num = f
		}
	}
	args := map[string]any{}
	for name, p := range sc.Properties {
		switch p.Type {
		case "string":
			args[name] = word
		case "integer":
			args[name] = int64(num)
		case "number":
			args[name] = num
		case "boolean":
			args[name] = true
		}
	}
	b, _ := json.Marshal(args)
	return b
}

func (s *server) toolRegistered(name string) bool {
	s.toolsMu.RLock()
	defer s.toolsMu.RUnlock()
	_, ok := s.tools[name]
	return ok
}

// garbageLine is the deliberately malformed output of [[sim:garbage]].
const garbageLine = `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":` + "\x01" + `garbage`
