package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// turnSpec describes one turn to run.
type turnSpec struct {
	sess          *session
	method        string // request method, for script rules
	prompt        *contentInput
	schema        json.RawMessage // per-turn output schema (nil: session default)
	retries       *uint32
	skillRefs     []skillRef
	model         *string
	provider      *string
	maxTokens     *uint32    // per-turn output cap (nil: session default)
	interactionID string     // set for inputs that arrived through comms
	onDone        func(bool) // background turns: called with success
}

// turnOutcome is what a turn produced for its caller.
type turnOutcome struct {
	result *runResult
	err    *rpcError
	after  func() // to run after the response has been written
}

// wireUsage is WireUsage.
type wireUsage struct {
	InputTokens  uint64 `json:"input_tokens"`
	OutputTokens uint64 `json:"output_tokens"`
	TotalTokens  uint64 `json:"total_tokens"`
}

type extractionError struct {
	LastOutput string `json:"last_output"`
	Attempts   uint32 `json:"attempts"`
	Reason     string `json:"reason"`
}

// runResult is WireRunResult.
type runResult struct {
	SessionID         string           `json:"session_id"`
	SessionRef        *string          `json:"session_ref"`
	Text              string           `json:"text"`
	Turns             uint32           `json:"turns"`
	ToolCalls         uint32           `json:"tool_calls"`
	Usage             wireUsage        `json:"usage"`
	TerminalCauseKind *string          `json:"terminal_cause_kind"`
	StructuredOutput  json.RawMessage  `json:"structured_output"`
	ExtractionError   *extractionError `json:"extraction_error"`
	SchemaWarnings    json.RawMessage  `json:"schema_warnings"`
}

// executeTurn runs a turn on a session whose slot the caller holds; the slot
// is released when the turn has finished (before the caller responds).
func (s *server) executeTurn(parent context.Context, spec *turnSpec) turnOutcome {
	sess := spec.sess
	ctx, cancel := context.WithCancelCause(parent)
	done := make(chan struct{})
	sess.turnMu.Lock()
	sess.turnCancel, sess.turnDone = cancel, done
	sess.turnMu.Unlock()
	defer func() {
		sess.turnMu.Lock()
		sess.turnCancel, sess.turnDone = nil, nil
		sess.turnMu.Unlock()
		cancel(nil)
		sess.release()
		close(done)
	}()
	t := &turn{s: s, spec: spec, sess: sess, ctx: ctx}
	return t.run()
}

// runBackgroundTurn queues a turn on sess as background work: it waits for
// the session to become idle and its response goes nowhere.
func (s *server) runBackgroundTurn(spec *turnSpec) {
	s.goBackground(func(ctx context.Context) {
		done := func(ok bool) {
			if spec.onDone != nil {
				spec.onDone(ok)
			}
		}
		if !spec.sess.acquire(ctx) {
			done(false)
			return
		}
		if spec.sess.isDeleted() {
			spec.sess.release()
			done(false)
			return
		}
		out := s.executeTurn(ctx, spec)
		if out.after != nil {
			out.after()
		}
		done(out.err == nil)
		if out.err != nil {
			s.log.Debug("background turn failed", zap.String("session_id", spec.sess.id), zap.Int("code", out.err.Code), zap.String("message", out.err.Message))
		}
	})
}

// turn is one running turn.
type turn struct {
	s    *server
	spec *turnSpec
	sess *session
	ctx  context.Context
	d    directives

	model, provider string
	delay           time.Duration
	pbuf            []byte
	llmTurns        uint32
	toolCalls       uint32
	inTokens        uint64
	outTokens       uint64
	text            strings.Builder // text streamed in the final LLM turn
}

func (t *turn) emit(v any) { t.s.emitEvent(t.sess, mustMarshal(v), emitOpt{flush: true}) }

func (t *turn) run() turnOutcome {
	s, sess, spec := t.s, t.sess, t.spec
	data := sess.snapshot()
	clean, pd, err := parseDirectives(spec.prompt.text)
	if err != nil {
		return turnOutcome{err: invalidParams("Invalid params: invalid sim directive: %v", err)}
	}
	t.d = s.script.forTurn(spec.method, spec.prompt.text, data.Labels)
	t.d.merge(pd)
	t.model, t.provider = data.Model, data.Provider
	if spec.model != nil && strings.TrimSpace(*spec.model) != "" {
		t.model = strings.TrimSpace(*spec.model)
		t.provider = inferProvider(t.model)
	}
	if spec.provider != nil && *spec.provider != "" {
		t.provider = *spec.provider
	}
	t.delay = s.opts.TokenDelay
	if t.d.hasSlow {
		t.delay = t.d.slow
	}
	schema := spec.schema
	if schema == nil {
		schema = data.OutputSchema
	}
	retries := uint32(2)
	if data.StructuredRetries != nil {
		retries = *data.StructuredRetries
	}
	if spec.retries != nil {
		retries = *spec.retries
	}
	hist, histWords := sess.transcriptOf(data.History)
	t.inTokens = uint64(wordCount(clean)) + 64*uint64(spec.prompt.images+spec.prompt.videos) + histWords

	t.emit(evRunStarted{"run_started", sess.id, runInputContent{"content", spec.prompt.raw}})
	if t.d.err != nil {
		t.emit(evRunFailed{"run_failed", sess.id, errorReport{errorClass(t.d.err.Code), t.d.err.Message}})
		return turnOutcome{err: t.d.err}
	}
	now := rfc3339(nowMS())
	row := userRow{Role: "user", Content: spec.prompt.raw, CreatedAt: now}
	if spec.interactionID != "" {
		id := spec.interactionID
		row.InteractionID = &id
	}
	sess.appendHistory(mustMarshal(row))
	sess.saveLogged()

	if t.d.garbage {
		s.out.writeGarbage(garbageLine)
	}
	if t.d.orphanEvent {
		t.emitOrphan()
	}
	if t.d.unknownEvent {
		s.emitEvent(sess, []byte(`{"type":"sim_unknown_event","detail":"injected by rkat-sim"}`), emitOpt{flush: true, injected: true})
		s.emitEvent(sess, []byte(`{"type":"text_delta"}`), emitOpt{flush: true, injected: true})
	}

	keys := make([]skillKey, 0, len(spec.skillRefs)+len(data.PreloadSkills))
	if data.Turns == 0 {
		keys = append(keys, data.PreloadSkills...)
	}
	for _, r := range spec.skillRefs {
		keys = append(keys, skillKey{r.SourceUUID, r.SkillName})
	}
	skills, missing := resolveSkills(keys)
	if len(skills) > 0 {
		ev := evSkillsResolved{Type: "skills_resolved"}
		for _, sk := range skills {
			ev.Skills = append(ev.Skills, sk.Key)
			ev.InjectionBytes += uint64(len(sk.content))
		}
		t.emit(ev)
	}
	for _, k := range missing {
		key := k
		t.emit(evSkillResolutionFailed{"skill_resolution_failed", skillFailureReason{"not_found", k}, &key})
	}

	t.llmTurns = 1
	if t.d.hang {
		// Armed before turn_started is written, so that neither a request
		// nor (for a hard hang) a signal sent on seeing it can beat the
		// hang: the request is dropped, the signal ignored.
		s.hung.Store(true)
		if t.d.hangHard {
			s.hardHang.Store(true)
		}
	}
	t.emit(evTurnStarted{"turn_started", 1})
	if t.d.hang {
		s.hang(t.d.hangHard)
		<-t.ctx.Done()
		return turnOutcome{err: newError(codeRequestCancelled, "Request cancelled")}
	}

	calls := t.d.tools
	if len(calls) == 0 {
		// The scripted model calls a registered tool whose name the prompt
		// mentions, with arguments made up from its input schema.
		calls = s.mentionedTools(clean)
	}
	var notes []string
	for _, call := range calls {
		if t.ctx.Err() != nil {
			return t.finishCancelled()
		}
		note, ok := t.toolRound(call)
		if !ok {
			return t.finishCancelled()
		}
		notes = append(notes, note)
	}

	var structured json.RawMessage
	var text string
	var ok bool
	stop := "end_turn"
	if t.d.tokens > 0 {
		ok = t.streamTokens(t.d.tokens, floodToken)
		text = t.text.String()
	} else {
		text = t.composeReply(clean, hist, notes, skills)
		if schema != nil && !t.d.extractionFail {
			if v, err := generateValue(schema); err == nil {
				structured, text = v, string(v)
			} else {
				s.log.Debug("cannot generate structured output", zap.Error(err))
			}
		}
		tokens := splitTokens(text)
		limit := data.MaxTokens
		if spec.maxTokens != nil {
			limit = *spec.maxTokens
		}
		if limit > 0 && uint32(len(tokens)) > limit {
			tokens, stop = tokens[:limit], "max_tokens"
			text, structured = strings.Join(tokens, ""), nil
		}
		ok = t.streamTokens(len(tokens), func(i int) string { return tokens[i] })
	}
	if !ok {
		return t.finishCancelled()
	}
	t.emit(evTextComplete{"text_complete", text})
	t.emit(evTurnCompleted{"turn_completed", stop, t.usage()})

	var ext *extractionError
	var cause *string
	runCompleted := evRunCompleted{"run_completed", sess.id, text, eventUsage{t.inTokens, t.outTokens}, schema != nil}
	if !t.d.lateEvent {
		t.emit(runCompleted)
	}
	if schema != nil {
		if structured != nil {
			t.emit(evExtractionSucceeded{"extraction_succeeded", sess.id, structured})
		} else {
			ext = &extractionError{LastOutput: text, Attempts: retries + 1, Reason: "simulated structured output validation failure: output is not valid JSON for the schema"}
			t.emit(evExtractionFailed{"extraction_failed", sess.id, ext.LastOutput, ext.Attempts, ext.Reason})
			c := "structured_output_validation_failed"
			cause = &c
		}
	}
	t.commitAssistant(text, stop)
	res := t.result(text)
	res.StructuredOutput, res.ExtractionError, res.TerminalCauseKind = structured, ext, cause
	out := turnOutcome{result: res}
	if t.d.lateEvent {
		// The run's terminal event follows the response, as the real
		// runtime's separate notification queue allows.
		out.after = func() { t.emit(runCompleted) }
	}
	return out
}

// streamTokens emits n text_delta events. It returns false if the turn was
// cancelled or the runtime crashed while streaming.
func (t *turn) streamTokens(n int, token func(int) string) bool {
	crashAt := -1
	if t.d.crash {
		crashAt = n / 2
	}
	done := t.ctx.Done()
	flushEach := t.delay > 0
	for i := 0; i < n; i++ {
		if i == crashAt {
			t.s.crash()
			return false
		}
		select {
		case <-done:
			return false
		default:
		}
		tok := token(i)
		t.pbuf = appendTextDelta(t.pbuf[:0], tok)
		t.s.emitEvent(t.sess, t.pbuf, emitOpt{flush: flushEach})
		t.text.WriteString(tok)
		t.outTokens++
		if flushEach && !sleepCtx(t.ctx, t.delay) {
			return false
		}
	}
	if t.d.crash {
		t.s.crash()
		return false
	}
	return true
}

func (t *turn) usage() *turnUsage {
	return &turnUsage{t.inTokens, t.outTokens, accountingFor(t.provider, t.model, t.inTokens)}
}

func (t *turn) result(text string) *runResult {
	return &runResult{
		SessionID: t.sess.id, Text: text, Turns: t.llmTurns, ToolCalls: t.toolCalls,
		Usage: wireUsage{t.inTokens, t.outTokens, t.inTokens + t.outTokens},
	}
}

// commitAssistant records the assistant reply and the run's accounting.
func (t *turn) commitAssistant(text, stop string) {
	sess := t.sess
	sess.mu.Lock()
	if text != "" || stop != "cancelled" {
		sess.data.History = append(sess.data.History, mustMarshal(assistantRow{
			Role: "block_assistant", Blocks: []json.RawMessage{assistantTextBlock(text)}, StopReason: stop, CreatedAt: rfc3339(nowMS()),
		}))
		last := text
		sess.data.LastAssistantText = &last
	}
	sess.data.TotalTokens += t.inTokens + t.outTokens
	sess.data.Turns++
	sess.data.UpdatedAtMS = nowMS()
	sess.mu.Unlock()
	sess.saveLogged()
}

// finishCancelled ends a turn whose context was cancelled.
func (t *turn) finishCancelled() turnOutcome {
	cause := context.Cause(t.ctx)
	interrupted := errors.Is(cause, errInterrupted)
	if !interrupted && !errors.Is(cause, errRequestCancelled) && !errors.Is(cause, errSessionArchived) {
		// Runtime shutdown, crash or hang: nothing more is written.
		return turnOutcome{err: newError(codeRequestCancelled, "Request cancelled: runtime stopping")}
	}
	partial := t.text.String()
	t.emit(evTurnCompleted{"turn_completed", "cancelled", t.usage()})
	t.commitAssistant(partial, "cancelled")
	if !interrupted || t.d.interruptError {
		msg := "Request cancelled: turn interrupted"
		switch {
		case errors.Is(cause, errRequestCancelled):
			msg = "Request cancelled by client"
		case errors.Is(cause, errSessionArchived):
			msg = "Request cancelled: session archived"
		}
		t.emit(evRunFailed{"run_failed", t.sess.id, errorReport{"cancelled", msg}})
		return turnOutcome{err: newError(codeRequestCancelled, "%s", msg)}
	}
	t.emit(evRunCompleted{"run_completed", t.sess.id, partial, eventUsage{t.inTokens, t.outTokens}, false})
	return turnOutcome{result: t.result(partial)}
}

// toolRound runs one scripted callback-tool call and the LLM turn after it.
func (t *turn) toolRound(call toolCall) (string, bool) {
	id := "toolu_" + strings.ReplaceAll(newUUIDv4(), "-", "")[:24]
	t.emit(evToolCallRequested{"tool_call_requested", id, call.name, call.args})
	t.emit(evTurnCompleted{"turn_completed", "tool_use", &turnUsage{t.inTokens, 0, accountingFor(t.provider, t.model, t.inTokens)}})
	t.sess.appendHistory(mustMarshal(assistantRow{
		Role: "block_assistant", Blocks: []json.RawMessage{assistantToolUseBlock(id, call.name, call.args)},
		StopReason: "tool_use", CreatedAt: rfc3339(nowMS()),
	}))
	t.emit(evToolExecutionStarted{"tool_execution_started", id, call.name})
	start := time.Now()
	blocks, text, isErr, ok := t.execTool(call)
	if !ok {
		return "", false
	}
	dur := uint64(time.Since(start).Milliseconds())
	t.emit(evToolExecutionCompleted{"tool_execution_completed", id, call.name, blocks, isErr, dur})
	t.emit(evToolResultReceived{"tool_result_received", id, call.name, blocks, isErr})
	t.sess.appendHistory(mustMarshal(toolResultsRow{
		Role: "tool_results", Results: []toolResultRow{{ToolUseID: id, Content: text, IsError: isErr}}, CreatedAt: rfc3339(nowMS()),
	}))
	t.toolCalls++
	t.inTokens += uint64(wordCount(text))
	t.llmTurns++
	t.emit(evTurnStarted{"turn_started", t.llmTurns})
	if isErr {
		return fmt.Sprintf("The %s tool reported an error: %s", call.name, text), true
	}
	return fmt.Sprintf("The %s tool returned: %s", call.name, text), true
}

// execTool calls a registered callback tool on the client. ok is false if
// the turn was cancelled while waiting.
func (t *turn) execTool(call toolCall) (blocks json.RawMessage, text string, isErr, ok bool) {
	if !t.s.toolRegistered(call.name) {
		text = "Unknown tool: " + call.name
		return textBlocks(text), text, true, true
	}
	rep, err := t.s.callClient(t.ctx, "tool/execute", struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}{call.name, call.args})
	if err != nil {
		if t.ctx.Err() != nil {
			return nil, "", false, false
		}
		text = "Tool error: " + err.Error()
		return textBlocks(text), text, true, true
	}
	if rep.err != nil {
		text = "Tool error: " + rep.err.Message
		return textBlocks(text), text, true, true
	}
	blocks, text, isErr = parseToolResult(rep.result)
	return blocks, text, isErr, true
}

// parseToolResult reads {content: string|blocks, is_error}.
func parseToolResult(raw json.RawMessage) (json.RawMessage, string, bool) {
	var r struct {
		Content json.RawMessage `json:"content"`
		IsError bool            `json:"is_error"`
	}
	switch jsonKind(raw) {
	case "object":
		_ = json.Unmarshal(raw, &r)
	case "string":
		r.Content = raw
	}
	switch jsonKind(r.Content) {
	case "string":
		var s string
		if json.Unmarshal(r.Content, &s) == nil {
			return textBlocks(s), s, r.IsError
		}
	case "array":
		if c, err := parseContent(r.Content, "content"); err == nil {
			return c.raw, c.text, r.IsError
		}
	}
	text := string(raw)
	if c, err := compactJSON(raw); err == nil {
		text = string(c)
	}
	return textBlocks(text), text, r.IsError
}

// composeReply builds the final reply text.
func (t *turn) composeReply(clean string, hist []historyEntry, notes []string, skills []skillEntry) string {
	if t.d.reply != nil {
		return *t.d.reply
	}
	var parts []string
	p := t.spec.prompt
	if p.images+p.videos > 0 {
		parts = append(parts, fmt.Sprintf("I can see %d %s and %d %s.", p.images, plural(p.images, "image"), p.videos, plural(p.videos, "video")))
	}
	for _, sk := range skills {
		parts = append(parts, fmt.Sprintf("Using skill %s (%s).", sk.Key.SkillName, sk.Name))
	}
	if clean != "" || len(parts)+len(notes) == 0 {
		parts = append(parts, modelReply(clean, hist))
	}
	parts = append(parts, notes...)
	return strings.Join(parts, " ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// emitOrphan writes a well-formed session/event for a session nobody knows.
func (t *turn) emitOrphan() {
	sid := newUUIDv4()
	env := appendEnvelope(nil, sid, "", 1, appendTextDelta(nil, "orphan"))
	line := append([]byte(`{"jsonrpc":"2.0","method":"session/event","params":{"session_id":`), jsonString(sid)...)
	line = append(line, `,"event":`...)
	line = append(line, env...)
	line = append(line, "}}"...)
	t.s.out.write(kindNotification, "session/event", line, false, true)
}

// errorClass maps an error code to an AgentErrorClass for run_failed.
func errorClass(code int) string {
	switch code {
	case codeProviderError:
		return "llm"
	case codeBudgetExhausted:
		return "budget"
	case codeHookDenied:
		return "hook"
	case codeRequestCancelled:
		return "cancelled"
	case codeSkillNotFound, codeSkillResolution:
		return "skill"
	case codeSessionNotFound:
		return "session_not_found"
	case codeCapabilityUnavail:
		return "config"
	default:
		return "internal"
	}
}
