package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mobd-dev/mobd/rpc"
)

// Sentinel errors. Match them with [errors.Is]: the errors this package
// returns wrap them, usually inside a [*TurnError] that says which session
// and what the engine knows about the turn.
var (
	// ErrOverloaded is returned by a turn or member request that finds the
	// session's or member's mailbox full (Config.SessionQueue,
	// Config.MemberQueue), and by CreateSession when every runtime hosts
	// Config.MaxSessionsPerRuntime sessions. Nothing was sent; the caller
	// may retry later.
	ErrOverloaded = errors.New("actors: overloaded")
	// ErrTurnLost means a turn provably never committed (the runtime's
	// history holds no trace of it) but was not run either: the runtime died
	// under it twice. Resubmitting it is safe. (When the pool gives up
	// instead, such a turn fails with [ErrRuntimeUnavailable].)
	ErrTurnLost = errors.New("actors: turn lost")
	// ErrTurnOutcomeUnknown means the runtime died while a turn was in
	// flight and its history shows the turn's user message without an
	// assistant reply after it (or could not be read): the turn may have had
	// effects, so it was neither retried nor reported as completed.
	ErrTurnOutcomeUnknown = errors.New("actors: turn outcome unknown")
	// ErrRuntimeUnavailable means the runtime pool gave up: its supervisor
	// exceeded its restart intensity and escalated. The error also wraps the
	// [*supervision.EscalationError]. The engine does not restart the pool;
	// shut it down and start a new one.
	ErrRuntimeUnavailable = errors.New("actors: runtime unavailable")
	// ErrEngineStopped is returned by calls made during or after
	// [Engine.Shutdown], and by turns that were still running when the
	// runtimes were stopped.
	ErrEngineStopped = errors.New("actors: engine stopped")
	// ErrSessionNotFound is the runtime's SESSION_NOT_FOUND, passed through
	// from package rpc: [Engine.Session] for an id the realm does not hold,
	// or turns on a session that vanished (e.g. a memory-backed realm
	// after a restart).
	ErrSessionNotFound = rpc.ErrSessionNotFound
	// ErrMemberNotFound is returned for a member identity the engine does
	// not know.
	ErrMemberNotFound = errors.New("actors: member not found")
	// ErrDuplicateMember is returned by SpawnMember for an identity already
	// in use.
	ErrDuplicateMember = errors.New("actors: duplicate member identity")
	// ErrNotPeer is returned when a member sends to, or receives from, a
	// member it is not wired to.
	ErrNotPeer = errors.New("actors: not a peer")
	// ErrMemberRetired is returned by requests to a retired member.
	ErrMemberRetired = errors.New("actors: member retired")
	// ErrUnknownAsk answers a [WaitAsk] for a key the member runs no turn
	// for and remembers no answer of.
	ErrUnknownAsk = errors.New("actors: no turn for that ask")
	// ErrSessionReleased is returned by turns on a SessionRef whose holds
	// were all given back ([SessionRef.Release]) and whose actor has
	// stopped; [Engine.Session] gives a new actor for the session.
	ErrSessionReleased = errors.New("actors: session actor released")
	// ErrStreamOverflow ends a [Stream] or [Subscription] whose consumer
	// fell more than Config.StreamBuffer events behind. The turn itself is
	// not affected: [Stream.Result] still reports it.
	ErrStreamOverflow = errors.New("actors: stream consumer fell behind")
	// ErrInternal reports a bug: an actor panicked. The actor failed its
	// pending work with it and refuses further work.
	ErrInternal = errors.New("actors: internal error")
)

// TurnError describes a turn (or the first turn of CreateSession) that did
// not complete. It matches its Kind — one of [ErrTurnLost],
// [ErrTurnOutcomeUnknown], [ErrRuntimeUnavailable], [ErrEngineStopped],
// [ErrSessionNotFound], [ErrInternal] — and its Cause with [errors.Is] and
// [errors.As].
type TurnError struct {
	// SessionID is the session the turn ran in; empty when a session
	// creation failed before the runtime named the session.
	SessionID string
	// Kind is the sentinel saying what happened.
	Kind error
	// Attempts is how many times the turn was sent to a runtime (0, 1 or 2).
	Attempts int
	// Committed reports whether the runtime's history holds the turn's user
	// message.
	Committed bool
	// Detail explains the verdict, e.g. where in the history the user
	// message was found.
	Detail string
	// Cause is the underlying failure, typically the runtime's
	// [*rpc.ExitError]; nil if none.
	Cause error
}

// Error implements error.
func (e *TurnError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.SessionID != "" {
		fmt.Fprintf(&b, ": session %s", e.SessionID)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " (attempts %d)", e.Attempts)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns Kind and Cause.
func (e *TurnError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// Failure is the serialisable form of an error in member replies (see
// [Answer]). Code is one of the Code* constants; [Failure.Err] turns it
// back into an error matching the sentinel.
type Failure struct {
	// Code classifies the failure.
	Code string `json:"code"`
	// Message is the error text.
	Message string `json:"message"`
	// SessionID is the session concerned, if any.
	SessionID string `json:"session_id,omitempty"`
	// Committed is TurnError.Committed for turn failures.
	Committed bool `json:"committed,omitempty"`
}

// Failure codes, one per sentinel of this package, CodeCanceled for a
// cancelled request and CodeOther for anything else. An [*rpc.Error]
// answered by the runtime has the code "remote:" followed by its semantic
// code, e.g. "remote:PROVIDER_ERROR".
const (
	CodeOverloaded         = "overloaded"
	CodeTurnLost           = "turn_lost"
	CodeTurnOutcomeUnknown = "turn_outcome_unknown"
	CodeRuntimeUnavailable = "runtime_unavailable"
	CodeEngineStopped      = "engine_stopped"
	CodeSessionNotFound    = "session_not_found"
	CodeMemberNotFound     = "member_not_found"
	CodeDuplicateMember    = "duplicate_member"
	CodeNotPeer            = "not_peer"
	CodeMemberRetired      = "member_retired"
	CodeUnknownAsk         = "unknown_ask"
	CodeInternal           = "internal"
	CodeCanceled           = "canceled"
	CodeOther              = "other"
)

// failureRemotePrefix prefixes the runtime's semantic code in the Code of a
// remote failure, e.g. "remote:PROVIDER_ERROR".
const failureRemotePrefix = "remote:"

var failureSentinels = []struct {
	code string
	err  error
}{
	// Order matters: a TurnError matches its Kind before its Cause.
	{CodeTurnOutcomeUnknown, ErrTurnOutcomeUnknown},
	{CodeTurnLost, ErrTurnLost},
	{CodeRuntimeUnavailable, ErrRuntimeUnavailable},
	{CodeEngineStopped, ErrEngineStopped},
	{CodeOverloaded, ErrOverloaded},
	{CodeSessionNotFound, ErrSessionNotFound},
	{CodeMemberNotFound, ErrMemberNotFound},
	{CodeDuplicateMember, ErrDuplicateMember},
	{CodeNotPeer, ErrNotPeer},
	{CodeMemberRetired, ErrMemberRetired},
	{CodeUnknownAsk, ErrUnknownAsk},
	{CodeInternal, ErrInternal},
}

// failureOf returns the serialisable form of err, nil for nil.
func failureOf(err error) *Failure {
	if err == nil {
		return nil
	}
	f := &Failure{Code: CodeOther, Message: err.Error()}
	var te *TurnError
	if errors.As(err, &te) {
		f.SessionID, f.Committed = te.SessionID, te.Committed
	}
	for _, s := range failureSentinels {
		if errors.Is(err, s.err) {
			f.Code = s.code
			return f
		}
	}
	var re *rpc.Error
	switch {
	case errors.As(err, &re):
		f.Code = failureRemotePrefix + string(re.Code)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		f.Code = CodeCanceled
	}
	return f
}

// Err returns an error that matches the sentinel of f.Code with errors.Is
// (an [*rpc.Error] of the same code for remote failures), or nil for a nil
// Failure.
func (f *Failure) Err() error {
	if f == nil {
		return nil
	}
	return &failureError{f: *f}
}

type failureError struct{ f Failure }

// Error returns the failure's message.
func (e *failureError) Error() string { return e.f.Message }

// Unwrap returns the sentinel of the failure's code.
func (e *failureError) Unwrap() error {
	for _, s := range failureSentinels {
		if s.code == e.f.Code {
			return s.err
		}
	}
	if c, ok := strings.CutPrefix(e.f.Code, failureRemotePrefix); ok {
		return &rpc.Error{Code: rpc.Code(c), Message: e.f.Message}
	}
	if e.f.Code == CodeCanceled {
		return context.Canceled
	}
	return nil
}
