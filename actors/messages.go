package actors

import "github.com/mobd-dev/mobd/rpc"

// The messages of the member actor. They are plain structs with JSON tags,
// holding no Go values that cannot be serialised, so that they can be
// journalled and sent to members in other processes of a protoactor
// cluster. A request is answered to its sender (the envelope's sender PID).

// Ask asks a member to run a turn with Prompt in its session. Reply:
// [*Answer].
type Ask struct {
	// Prompt is the turn's text.
	Prompt string `json:"prompt"`
	// From is the identity of the asking member when a peer asks (it must
	// be wired to the receiver), empty for an outside caller.
	From string `json:"from,omitempty"`
}

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
	Peer string `json:"peer"`
}

// UnwirePeer removes Peer from the receiving member's peers. Reply:
// [*MemberState].
type UnwirePeer struct {
	Peer string `json:"peer"`
}

// GetState asks a member for its state. Reply: [*MemberState].
type GetState struct{}

// RetireMember retires a member: it answers the asks it accepted, refuses
// new ones with [ErrMemberRetired] and stops. Its session stays in the
// realm. Reply: [*MemberState].
type RetireMember struct{}

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
	// Recovered and Attempts are those of [TurnResult].
	Recovered bool `json:"recovered,omitempty"`
	Attempts  int  `json:"attempts,omitempty"`
	// Error is set when the turn did not complete; the other fields but
	// Identity and SessionID are then empty.
	Error *Failure `json:"error,omitempty"`
}

// MemberState describes a member.
type MemberState struct {
	Identity  string   `json:"identity"`
	Role      string   `json:"role,omitempty"`
	Profile   string   `json:"profile,omitempty"`
	SessionID string   `json:"session_id,omitempty"`
	Runtime   string   `json:"runtime,omitempty"`
	Peers     []string `json:"peers,omitempty"`
	// Turns counts the turns the member completed.
	Turns int `json:"turns"`
	// Pending counts the asks accepted and not answered yet.
	Pending int  `json:"pending"`
	Retired bool `json:"retired,omitempty"`
	// Error is set when the request was refused.
	Error *Failure `json:"error,omitempty"`
}

// MemberSpec describes a member to spawn.
type MemberSpec struct {
	// Identity names the member uniquely within the engine (required).
	Identity string `json:"identity"`
	// Role and Profile describe the member to its model and its peers.
	Role    string `json:"role,omitempty"`
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
	// SystemPrompt, Model, Provider and Labels configure a new session.
	SystemPrompt string            `json:"system_prompt,omitempty"`
	Model        string            `json:"model,omitempty"`
	Provider     string            `json:"provider,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}
