package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/server"
)

// sessionPath is the API path of session id, with rest after it.
func sessionPath(id, rest string) string { return "/v1/sessions/" + seg(id) + rest }

// cmdSessions lists the realm's sessions, with the state of those an actor
// runs.
func cmdSessions(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("sessions")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	var ss []server.SessionStatus
	raw, err := f.client().getJSON(ctx, "/v1/sessions", &ss)
	if err != nil || f.json() {
		return jsonOr(stdout, raw, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tRUNTIME\tSTATE\tQUEUED\tERROR")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.Runtime, sessionState(s), s.Queued, s.Err)
	}
	return tw.Flush()
}

func sessionState(s server.SessionStatus) string {
	switch {
	case s.Runtime == "":
		return "stored" // in the realm, no actor runs it
	case !s.Attached:
		return "detached"
	case s.Running:
		return "running"
	}
	return "idle"
}

// jsonOr prints raw indented when err is nil; it returns err.
func jsonOr(stdout io.Writer, raw json.RawMessage, err error) error {
	if err != nil {
		return err
	}
	return printJSON(stdout, raw)
}

// cmdSession shows a session's status and its last messages.
func cmdSession(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("session")
	last := f.fs.Int("messages", 10, "how many of the last messages to show (0: none)")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if *last < 0 {
		return fmt.Errorf("%w: --messages %d: want 0 or more", errUsage, *last)
	}
	c := f.client()
	var st server.SessionStatus
	raw, err := c.getJSON(ctx, sessionPath(pos[0], ""), &st)
	if err != nil || f.json() {
		return jsonOr(stdout, raw, err)
	}
	fmt.Fprintf(stdout, "session %s on %s (generation %d): %s, %d queued\n", st.ID, st.Runtime, st.Generation, sessionState(st), st.Queued)
	if st.Err != "" {
		fmt.Fprintf(stdout, "error: %s\n", st.Err)
	}
	if *last == 0 {
		return nil
	}
	var h rpc.History
	if _, err := c.getJSON(ctx, sessionPath(pos[0], "/history?limit=1"), &h); err != nil {
		return err
	}
	from := max(0, int(h.MessageCount)-*last)
	if _, err := c.getJSON(ctx, sessionPath(pos[0], fmt.Sprintf("/history?offset=%d&limit=%d", from, *last)), &h); err != nil {
		return err
	}
	if len(h.Messages) == 0 {
		fmt.Fprintln(stdout, "no messages")
		return nil
	}
	fmt.Fprintf(stdout, "messages %d–%d of %d:\n", from+1, from+len(h.Messages), h.MessageCount)
	for _, m := range h.Messages {
		fmt.Fprintf(stdout, "  %s\n", messageLine(m))
	}
	return nil
}

// messageLine renders a transcript row on one line.
func messageLine(m rpc.HistoryMessage) string {
	var who, text string
	switch m.Role {
	case "block_assistant":
		who, text = "assistant", m.AssistantText()
		if m.StopReason == "tool_use" {
			text = strings.TrimSpace(text + " [tool call]")
		}
	case "tool_results":
		who, text = "tool results", ""
	default:
		who = m.Role
		if m.Content != nil {
			text = m.Content.String()
		}
	}
	return who + ": " + clip(text, 160)
}

// cmdAsk creates a session with a first prompt and prints its answer.
func cmdAsk(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("ask")
	model := f.fs.String("model", "", "model (default: the runtime's)")
	provider := f.fs.String("provider", "", "provider (default: the model's)")
	system := f.fs.String("system", "", "system prompt")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	var res server.TurnResponse
	raw, err := f.client().postJSON(ctx, "/v1/sessions", server.CreateSessionRequest{
		Prompt: pos[0], Model: *model, Provider: *provider, SystemPrompt: *system}, &res)
	if err != nil || f.json() {
		return jsonOr(stdout, raw, err)
	}
	fmt.Fprintln(stdout, res.Text)
	fmt.Fprintf(stdout, "[session %s · %s]\n", res.SessionID, usageLine(res.Usage))
	return nil
}

func usageLine(u rpc.Usage) string {
	return fmt.Sprintf("%d input + %d output tokens", u.InputTokens, u.OutputTokens)
}

// cmdTurn runs a turn on a session, printing its text as it streams.
func cmdTurn(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("turn")
	pos, err := f.parse(args, 2)
	if err != nil {
		return err
	}
	body, err := json.Marshal(server.TurnRequest{Prompt: pos[1]})
	if err != nil {
		return err
	}
	c := f.client()
	if f.json() {
		raw, err := c.do(ctx, http.MethodPost, sessionPath(pos[0], "/turns"), "application/json", body)
		return jsonOr(stdout, raw, err)
	}
	return c.stream(ctx, sessionPath(pos[0], "/turns/stream"), body, func(ev sseEvent) error {
		switch ev.Name {
		case "text_delta":
			var d struct {
				Delta string `json:"delta"`
			}
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				return fmt.Errorf("text_delta event: %w", err)
			}
			_, err := io.WriteString(stdout, d.Delta)
			return err
		case "result":
			var res server.TurnResponse
			if err := json.Unmarshal(ev.Data, &res); err != nil {
				return fmt.Errorf("result event: %w", err)
			}
			fmt.Fprintf(stdout, "\n[session %s · %s]\n", res.SessionID, usageLine(res.Usage))
			return errStop
		case "error":
			var eb struct {
				Error *apiError `json:"error"`
			}
			if err := json.Unmarshal(ev.Data, &eb); err != nil || eb.Error == nil {
				return fmt.Errorf("the turn failed: %s", ev.Data)
			}
			fmt.Fprintln(stdout)
			return eb.Error
		}
		return nil
	})
}

// stream POSTs body to path and hands each Server-Sent Event of the answer
// to fn until fn returns errStop (then stream returns nil), fails, or the
// stream ends early.
func (c *client) stream(ctx context.Context, path string, body []byte, fn func(sseEvent) error) error {
	req, err := c.request(ctx, http.MethodPost, path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	err = c.sse(req, fn)
	switch {
	case errors.Is(err, errStop):
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("the daemon ended the stream before the turn's result")
	}
	return err
}
