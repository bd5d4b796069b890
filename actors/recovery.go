package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/mobd-dev/mobd/rpc"
)

// Crash recovery decides the fate of a turn that was in flight when its
// runtime died, from the session's committed history (protocol §9): the
// runtime commits a turn's user message when the turn starts and the
// assistant reply when it ends, and never rewrites committed success.
//
// Before each turn the session actor records the history length at the
// last moment it knew it exactly (a session/read with no turn running, or a
// previous recovery) and how many turns completed since; every completed
// turn committed exactly one user message. After the restart it reads the
// history from that length on and skips that many user messages:
//
//   - none left: the turn never committed, so it is run again, once;
//   - one left, equal to the turn's prompt, followed by a final assistant
//     reply: the turn completed; its result is rebuilt from the history;
//   - anything else (a user message without reply, an unexpected one): the
//     outcome is unknown and the caller gets [ErrTurnOutcomeUnknown].
//
// User messages that arrived through comms (they carry an interaction_id)
// are not turns of this session's callers and are ignored.

type verdictKind int

const (
	verdictUnknown verdictKind = iota
	verdictNotCommitted
	verdictCompleted
)

// String names the verdict for logs.
func (k verdictKind) String() string {
	switch k {
	case verdictNotCommitted:
		return "not_committed"
	case verdictCompleted:
		return "completed"
	}
	return "unknown"
}

// verdict is the result of inspecting a session's history after a crash.
type verdict struct {
	kind      verdictKind
	sessionID string         // the session found (for a creation)
	count     uint64         // the history length read
	result    *rpc.RunResult // for verdictCompleted
	committed bool           // the turn's user message is in the history
	detail    string
}

// historyPage is how many messages a recovery reads per session/history
// call (the contract's maximum).
const historyPage = 1000

// readHistory reads the history of session id from offset on.
func readHistory(ctx context.Context, c *rpc.Client, id string, offset uint64) (rows []rpc.HistoryMessage, count uint64, err error) {
	for {
		h, err := c.ReadSessionHistory(ctx, id, int(offset)+len(rows), historyPage)
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, h.Messages...)
		count = h.MessageCount
		if !h.HasMore || len(h.Messages) == 0 {
			return rows, count, nil
		}
	}
}

// inspectTurn reads the history of session id after a crash and judges the
// turn that sent prompt when the history had base messages and skip turns
// had completed since.
func inspectTurn(ctx context.Context, c *rpc.Client, id string, base uint64, skip int, prompt rpc.Content) (verdict, error) {
	rows, count, err := readHistory(ctx, c, id, base)
	if err != nil {
		return verdict{}, err
	}
	if count < base {
		return verdict{count: count, detail: fmt.Sprintf("the history shrank from %d to %d messages", base, count)}, nil
	}
	return analyze(rows, base, skip, prompt, count), nil
}

// inspectCreate looks for the session a creation labelled token may have
// made, and judges its first turn.
func inspectCreate(ctx context.Context, c *rpc.Client, token string, prompt rpc.Content) (verdict, error) {
	list, err := c.ListSessions(ctx, rpc.ListSessionsOptions{Labels: map[string]string{CreateLabel: token}})
	if err != nil {
		return verdict{}, err
	}
	switch len(list) {
	case 0:
		return verdict{kind: verdictNotCommitted, detail: "the runtime holds no session with the creation's label"}, nil
	case 1:
	default:
		return verdict{sessionID: list[0].SessionID, detail: fmt.Sprintf("%d sessions carry the creation's label", len(list))}, nil
	}
	id := list[0].SessionID
	rows, count, err := readHistory(ctx, c, id, 0)
	if err != nil {
		return verdict{}, err
	}
	v := analyze(rows, 0, 0, prompt, count)
	v.sessionID = id
	if v.kind == verdictNotCommitted {
		v.detail = "the session was created but its first turn never committed"
	}
	return v, nil
}

// analyze judges a turn from rows, the history from index base on.
func analyze(rows []rpc.HistoryMessage, base uint64, skip int, prompt rpc.Content, count uint64) verdict {
	v := verdict{count: count}
	var users []int
	for i, r := range rows {
		if r.Role == "user" && !fromComms(r) {
			users = append(users, i)
		}
	}
	switch {
	case len(users) < skip:
		v.detail = fmt.Sprintf("%d turns completed since message %d but the history holds only %d user messages after it", skip, base, len(users))
		return v
	case len(users) == skip:
		v.kind = verdictNotCommitted
		v.detail = fmt.Sprintf("no user message of the turn after message %d", base+uint64(len(rows)))
		if skip > 0 {
			v.detail = fmt.Sprintf("no user message of the turn after the %d completed turns since message %d", skip, base)
		}
		return v
	case len(users) > skip+1:
		v.committed = true
		v.detail = fmt.Sprintf("%d unaccounted user messages after message %d", len(users)-skip, base)
		return v
	}
	u := users[skip]
	at := base + uint64(u)
	if !sameContent(rows[u].Content, prompt) {
		v.detail = fmt.Sprintf("the user message at index %d is not the turn's prompt", at)
		return v
	}
	v.committed = true
	res := &rpc.RunResult{}
	final := -1
	for i := u + 1; i < len(rows); i++ {
		if rows[i].Role != "block_assistant" {
			continue
		}
		res.Turns++
		res.ToolCalls += uint32(toolUses(rows[i]))
		if rows[i].StopReason != "tool_use" {
			final = i
		}
	}
	if final < 0 {
		v.detail = fmt.Sprintf("the turn's user message is committed at index %d with no assistant reply after it", at)
		return v
	}
	res.Text = rows[final].AssistantText()
	v.kind, v.result = verdictCompleted, res
	v.detail = fmt.Sprintf("user message at index %d and assistant reply at index %d are committed", at, base+uint64(final))
	return v
}

// fromComms reports whether a user row came through comms.
func fromComms(r rpc.HistoryMessage) bool {
	var row struct {
		InteractionID *string `json:"interaction_id"`
	}
	return json.Unmarshal(r.Raw, &row) == nil && row.InteractionID != nil && *row.InteractionID != ""
}

// toolUses counts the tool_use blocks of an assistant row.
func toolUses(r rpc.HistoryMessage) int {
	var row struct {
		Blocks []struct {
			BlockType string `json:"block_type"`
		} `json:"blocks"`
	}
	if json.Unmarshal(r.Raw, &row) != nil {
		return 0
	}
	n := 0
	for _, b := range row.Blocks {
		if b.BlockType == "tool_use" {
			n++
		}
	}
	return n
}

// sameContent reports whether a history row's content is the prompt.
func sameContent(got *rpc.Content, want rpc.Content) bool {
	if got == nil {
		return false
	}
	a, err1 := json.Marshal(*got)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
