package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// Tool is a callback tool: a Go function the runtime's model can call. The
// runtime sends tool/execute requests to the client, which runs Handler and
// replies.
type Tool struct {
	// Name is the tool's name as the model sees it.
	Name string
	// Description tells the model what the tool does.
	Description string
	// InputSchema is the JSON Schema of the arguments; nil means any object.
	InputSchema json.RawMessage
	// Handler runs the tool. It is called concurrently with other handlers
	// and with the connection's reader, so it may itself call the Client.
	// Its ctx is cancelled when the Client closes.
	Handler ToolHandler
}

// ToolHandler runs one tool call with the raw JSON arguments the model chose.
type ToolHandler func(ctx context.Context, args json.RawMessage) (ToolResult, error)

// ToolResult is what a tool returns to the model: text, or content blocks
// for rich results. IsError marks a failed call the model should see as such.
type ToolResult struct {
	Text    string
	Blocks  []Block
	IsError bool
}

// TextResult returns a plain-text tool result.
func TextResult(text string) ToolResult { return ToolResult{Text: text} }

// ErrorResult returns a tool result that reports a failure to the model.
func ErrorResult(text string) ToolResult { return ToolResult{Text: text, IsError: true} }

func (r ToolResult) wire() map[string]any {
	var content any = r.Text
	if r.Blocks != nil {
		content = r.Blocks
	}
	return map[string]any{"content": content, "is_error": r.IsError}
}

type toolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

func (c *Client) toolDefs() []toolDef {
	c.toolsMu.RLock()
	defer c.toolsMu.RUnlock()
	defs := make([]toolDef, 0, len(c.tools))
	for _, t := range c.tools {
		defs = append(defs, t.def())
	}
	return defs
}

func (t Tool) def() toolDef {
	schema := t.InputSchema
	if len(schema) == 0 {
		schema = json.RawMessage(`{"type":"object"}`)
	}
	return toolDef{Name: t.Name, Description: t.Description, InputSchema: schema}
}

func (t Tool) validate() error {
	if t.Name == "" {
		return fmt.Errorf("%w: tool without a name", ErrInvalidArgs)
	}
	if t.Handler == nil {
		return fmt.Errorf("%w: tool %q has no handler", ErrInvalidArgs, t.Name)
	}
	if len(t.InputSchema) > 0 && !json.Valid(t.InputSchema) {
		return fmt.Errorf("%w: tool %q input schema is not valid JSON", ErrInvalidArgs, t.Name)
	}
	return nil
}

// RegisterTools adds callback tools and registers them with the runtime
// (tools/register). A tool with the name of an existing one replaces it.
func (c *Client) RegisterTools(ctx context.Context, tools ...Tool) error {
	defs := make([]toolDef, 0, len(tools))
	for _, t := range tools {
		if err := t.validate(); err != nil {
			return err
		}
		defs = append(defs, t.def())
	}
	if err := c.conn.call(ctx, "tools/register", map[string]any{"tools": defs}, nil); err != nil {
		return err
	}
	c.toolsMu.Lock()
	for _, t := range tools {
		c.tools[t.Name] = t
	}
	c.toolsMu.Unlock()
	return nil
}

// onServerRequest handles a server→client request. It runs on the read
// loop, so the work, and the answer, happen on a goroutine of its own (the
// reader never writes to the runtime it reads); at most
// MaxConcurrentCallbacks handlers run at once and the others wait for a
// slot. The reader itself never waits, so handlers may call the Client.
func (c *Client) onServerRequest(id json.RawMessage, method string, params json.RawMessage) {
	c.cbWG.Add(1)
	go func() {
		defer c.cbWG.Done()
		if method != "tool/execute" {
			c.replyAsync(id, nil, &wireError{Code: -32601, Message: "Method not supported: " + method})
			return
		}
		select {
		case c.cbSem <- struct{}{}:
		case <-c.cbCtx.Done():
			c.replyAsync(id, ErrorResult("Tool error: client closing").wire(), nil)
			return
		}
		defer func() { <-c.cbSem }()
		res := c.runTool(params)
		if err := c.conn.reply(id, res.wire(), nil); err != nil {
			c.log.Warn("could not answer tool/execute", zap.Error(err))
		}
	}()
}

func (c *Client) replyAsync(id json.RawMessage, result any, werr *wireError) {
	if err := c.conn.reply(id, result, werr); err != nil {
		c.log.Warn("could not answer server request", zap.Error(err))
	}
}

func (c *Client) runTool(params json.RawMessage) (res ToolResult) {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return ErrorResult("Tool error: malformed tool/execute params: " + err.Error())
	}
	c.toolsMu.RLock()
	t, ok := c.tools[p.Name]
	c.toolsMu.RUnlock()
	if !ok {
		return ErrorResult("Unknown tool: " + p.Name)
	}
	if len(p.Arguments) == 0 {
		p.Arguments = json.RawMessage(`{}`)
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("tool handler panicked", zap.String("tool", p.Name), zap.Any("panic", r))
			res = ErrorResult(fmt.Sprintf("Tool error: panic: %v", r))
		}
	}()
	out, err := t.Handler(c.cbCtx, p.Arguments)
	if err != nil {
		if errors.Is(err, context.Canceled) && c.cbCtx.Err() != nil {
			return ErrorResult("Tool error: client closing")
		}
		return ErrorResult("Tool error: " + err.Error())
	}
	return out
}
