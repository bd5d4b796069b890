package actors

import (
	"encoding/json"

	"github.com/mobd-dev/mobd/rpc"
)

// The messages of the member actor. They are plain structs with JSON tags,
// holding no Go values that cannot be serialised, so that they can be
// journalled and sent to members in other processes of a protoactor
// cluster. A request is answered to its sender (the envelope's sender PID).
// Only a member's exchange with its own session actor, which lives in the
// same process as the runtime hosting the session, uses the session's
// process-local messages.

// Ask asks a member to run a turn with Prompt in its session. Reply:
// [*Answer].
type Ask struct {
	// Prompt is the turn's text.
	Prompt string `json:"prompt"`
	// From is the identity of the asking member when a peer asks (it must
	// be wired to the receiver), empty for an outside caller.
	From string `json:"from,omitempty"`
	// Content, when set, is the turn's prompt instead of Prompt: text or
	// multimodal blocks.
	Content *rpc.Content `json:"content,omitempty"`
	// Key is an idempotency key. A member answers every Ask with the same
	// key from one turn: a duplicate that arrives while the turn runs
	// waits for it, one that arrives later gets the same answer again (the
	// member remembers the last [MemberKeyMemory] keys). The answer
	// carries the key back.
	Key string `json:"key,omitempty"`
	// OutputSchema asks for structured output conforming to this JSON
	// Schema (Answer.Output).
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// ToolOverlay restricts the turn's tools (the runtime's
	// turn_tool_overlay: {"allowed_tools": [...], "blocked_tools": [...]}).
	ToolOverlay json.RawMessage `json:"tool_overlay,omitempty"`
}

// MemberKeyMemory is how many answered idempotency keys ([Ask.Key]) a member
// remembers.
const MemberKeyMemory = 4096

// PeerMessage asks a member to send Body to its peer To: the receiving
// member checks that To is wired to it and forwards it as an [Ask] from
// itself, whose [*Answer] (from To) goes to the original sender.
type PeerMessage struct {
	// To is the identity of the peer.
	To string `json:"to"`
	// Body is the message text; the peer's turn prompt is
	// "Message from <sender> (<role>): <body>".
	Body string `json:"body"`
}

// WirePeer adds Peer to the receiving member's peers. Reply:
// [*MemberState]. Wiring is one-directional at this level;
// [MemberRef.Wire] wires both members.
type WirePeer struct {
	// Peer is the identity to wire.
	Peer string `json:"peer"`
}

// UnwirePeer removes Peer from the receiving member's peers. Reply:
// [*MemberState].
type UnwirePeer struct {
	// Peer is the identity to unwire.
	Peer string `json:"peer"`
}

// GetState asks a member for its state. Reply: [*MemberState].
type GetState struct{}

// RetireMember retires a member: it answers the asks it accepted, refuses
// new ones with [ErrMemberRetired] and stops, releasing its hold on its
// session's actor ([SessionRef.Release]). Its session stays in the realm.
// Reply: [*MemberState].
type RetireMember struct{}

// CancelAsk asks a member to cancel the turn of the [Ask] with Key: a turn
// still queued is dropped, and a running one is interrupted on the
// runtime. The ask, and every duplicate waiting for it, is answered as
// the turn ends: a dropped turn's answer is a failure matching
// context.Canceled; an interrupted one's is what the runtime made of it.
// A key the member runs no turn for is ignored. No reply.
type CancelAsk struct {
	// Key is the ask's idempotency key.
	Key string `json:"key"`
}

// WaitAsk asks a member to answer once the turn of the [Ask] with Key is
// over, without running one. Reply: [*Answer]: the turn's answer, at once
// when it is over and the member remembers it; a failure matching
// [ErrUnknownAsk] when the member runs no turn for the key and remembers
// no answer of it (a failed turn's key is not remembered).
type WaitAsk struct {
	// Key is the ask's idempotency key.
	Key string `json:"key"`
}

// Answer is a member's reply to an [Ask] or a [PeerMessage].
type Answer struct {
	// Identity is the answering member.
	Identity string `json:"identity"`
	// SessionID is its session.
	SessionID string `json:"session_id,omitempty"`
	// Text is the assistant's reply.
	Text string `json:"text,omitempty"`
	// Usage is the turn's token usage (zero for a recovered turn).
	Usage rpc.Usage `json:"usage"`
	// Recovered is [TurnResult.Recovered].
	Recovered bool `json:"recovered,omitempty"`
	// Attempts is [TurnResult.Attempts].
	Attempts int `json:"attempts,omitempty"`
	// Key is the [Ask.Key] this answers.
	Key string `json:"key,omitempty"`
	// Output is the turn's structured output, when the Ask had an
	// OutputSchema and the runtime produced one.
	Output json.RawMessage `json:"output,omitempty"`
	// ExtractionError is the runtime's reason when it could not extract
	// structured output (the turn itself completed).
	ExtractionError string `json:"extraction_error,omitempty"`
	// Error is set when the turn did not complete; the other fields but
	// Identity and SessionID are then empty.
	Error *Failure `json:"error,omitempty"`
}

// MemberState describes a member.
type MemberState struct {
	// Identity is the member's identity.
	Identity string `json:"identity"`
	// Role is the member's role.
	Role string `json:"role,omitempty"`
	// Profile is the member's profile.
	Profile string `json:"profile,omitempty"`
	// SessionID is the member's session.
	SessionID string `json:"session_id,omitempty"`
	// Runtime names the runtime hosting the session.
	Runtime string `json:"runtime,omitempty"`
	// Peers are the identities the member is wired to, sorted.
	Peers []string `json:"peers,omitempty"`
	// Turns counts the turns the member completed, on from its spec's
	// Turns.
	Turns int `json:"turns"`
	// Pending counts the asks accepted and not answered yet.
	Pending int `json:"pending"`
	// Retired reports a member that takes no more asks.
	Retired bool `json:"retired,omitempty"`
	// Error is set when the request was refused.
	Error *Failure `json:"error,omitempty"`
}

// MemberSpec describes a member to spawn.
type MemberSpec struct {
	// Identity names the member uniquely within the engine (required).
	Identity string `json:"identity"`
	// Role describes the member to its model and its peers.
	Role string `json:"role,omitempty"`
	// Profile is a longer description of the member.
	Profile string `json:"profile,omitempty"`
	// Peers are the identities the member is wired to. Members already
	// running are wired back.
	Peers []string `json:"peers,omitempty"`
	// SessionID attaches the member to an existing session of the realm
	// instead of creating one.
	SessionID string `json:"session_id,omitempty"`
	// Prompt is the first turn of a new session. Default: an introduction
	// naming the member's identity, role and profile.
	Prompt string `json:"prompt,omitempty"`
	// SystemPrompt is the system prompt of a new session.
	SystemPrompt string `json:"system_prompt,omitempty"`
	// Model is the model of a new session.
	Model string `json:"model,omitempty"`
	// Provider is the provider of a new session.
	Provider string `json:"provider,omitempty"`
	// Labels are added to a new session's labels, with mobd_member and
	// mobd_role.
	Labels map[string]string `json:"labels,omitempty"`
	// Session holds the other settings of a new session (tools, output
	// schema, provider params, additional instructions, …); the fields
	// above win over its Model, Provider and SystemPrompt, and Labels are
	// added to its labels.
	Session rpc.SessionOptions `json:"session,omitzero"`
	// TurnDefaults are the settings of every turn the member runs (model,
	// provider, provider params, self-hosted server, …); an Ask's own
	// output schema and tool overlay win.
	TurnDefaults rpc.TurnOptions `json:"turn_defaults,omitzero"`
	// Turns is the number of turns the member completed before this
	// actor; its state's Turns counts on from it. A mob that re-attaches
	// its members after a restart passes the count its journal holds.
	Turns int `json:"turns,omitempty"`
}
