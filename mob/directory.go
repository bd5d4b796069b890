package mob

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/mobd-dev/mobd/rpc"
)

// PeerToolName is the name of the callback tool of Directory.Tool.
const PeerToolName = "mob_send_message"

// Directory lists running mobs by id, for the peer tool that lets a member
// message a wired peer while it works. Register it with the runtimes
// (actors.Config.Tools = []rpc.Tool{dir.Tool()}) and give it to each mob
// (Config.Directory). It is safe for concurrent use.
type Directory struct {
	mu   sync.Mutex
	mobs map[string]*Mob
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory { return &Directory{mobs: make(map[string]*Mob)} }

func (d *Directory) add(m *Mob) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mobs[m.id] = m
}

func (d *Directory) remove(m *Mob) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mobs[m.id] == m {
		delete(d.mobs, m.id)
	}
}

// Mob returns the running mob with the id, or nil.
func (d *Directory) Mob(id string) *Mob {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mobs[id]
}

// Tool returns the peer tool: the model of a member calls it with
// {"mob": id, "from": its identity, "to": a wired peer, "message": text};
// the message is delivered into the peer's mailbox (Mob.Deliver) and the
// tool returns at once. Wiring and topology are checked; a refusal is a
// tool error the model sees.
func (d *Directory) Tool() rpc.Tool {
	return rpc.Tool{
		Name:        PeerToolName,
		Description: "Send a message to a wired peer in your mob. It is queued in the peer's mailbox; you do not wait for its answer.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"mob":{"type":"string"},"from":{"type":"string"},"to":{"type":"string"},"message":{"type":"string"}},"required":["mob","from","to","message"]}`),
		Handler: func(ctx context.Context, args json.RawMessage) (rpc.ToolResult, error) {
			var a struct{ Mob, From, To, Message string }
			if err := json.Unmarshal(args, &a); err != nil {
				return rpc.ToolResult{}, fmt.Errorf("bad arguments: %w", err)
			}
			m := d.Mob(a.Mob)
			if m == nil {
				return rpc.ToolResult{}, fmt.Errorf("%w: %q", ErrMobNotFound, a.Mob)
			}
			if err := m.Deliver(ctx, a.From, a.To, a.Message); err != nil {
				return rpc.ToolResult{}, err
			}
			return rpc.TextResult(fmt.Sprintf("delivered to %s", a.To)), nil
		},
	}
}
