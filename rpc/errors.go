package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Client-side failures. Each is a sentinel matched with [errors.Is]; the
// errors returned by this package wrap them with context.
var (
	// ErrNotConnected is returned by calls on a Client that never connected.
	ErrNotConnected = errors.New("rpc: not connected")
	// ErrClientClosed is returned by calls made after, or pending during, Close.
	ErrClientClosed = errors.New("rpc: client closed")
	// ErrConnectionClosed means the runtime went away (stdout EOF or process
	// exit). The error is usually an [*ExitError] carrying the exit status and
	// the last lines of stderr.
	ErrConnectionClosed = errors.New("rpc: connection closed")
	// ErrProtocol means the runtime wrote something that is not a JSON-RPC
	// message (for example a malformed JSON line). The connection is faulted
	// for good: every pending and later call fails with it.
	ErrProtocol = errors.New("rpc: protocol error")
	// ErrInvalidResponse means a response or event envelope did not have the
	// shape the contract requires.
	ErrInvalidResponse = errors.New("rpc: invalid response")
	// ErrInvalidArgs means the caller passed arguments the SDK rejects before
	// anything is sent.
	ErrInvalidArgs = errors.New("rpc: invalid arguments")
	// ErrVersionMismatch means the runtime's contract version is not
	// compatible with the one this SDK speaks ([ContractVersion]).
	ErrVersionMismatch = errors.New("rpc: contract version mismatch")
	// ErrBinaryNotFound means no runtime binary could be resolved.
	ErrBinaryNotFound = errors.New("rpc: runtime binary not found")
	// ErrDownloadFailed means the runtime release could not be downloaded,
	// verified or unpacked.
	ErrDownloadFailed = errors.New("rpc: runtime download failed")
	// ErrUnsupportedPlatform means no runtime release exists for this OS/arch.
	ErrUnsupportedPlatform = errors.New("rpc: unsupported platform")
	// ErrLegacyBinaryUnsupported means an option was asked of the legacy
	// `rkat rpc` binary, which cannot honour it.
	ErrLegacyBinaryUnsupported = errors.New("rpc: option not supported by legacy rkat binary")
	// ErrCapabilityUnavailable is returned by [Client.RequireCapability] and by
	// calls that need a capability the runtime does not offer. A runtime
	// error CAPABILITY_UNAVAILABLE (-32020), an [*Error], matches it too.
	ErrCapabilityUnavailable = errors.New("rpc: capability unavailable")
	// ErrStreamNotConsumed is returned by EventStream.Result before the stream ended.
	ErrStreamNotConsumed = errors.New("rpc: stream not consumed")
	// ErrStreamOverflow means a stream's consumer fell behind by more events
	// than the stream buffer holds, under [OverflowFail].
	ErrStreamOverflow = errors.New("rpc: stream buffer overflow")
	// ErrNotSent marks a call that failed before any of it reached the
	// runtime (the connection was already down, or the params could not be
	// encoded): retrying it cannot run anything twice. It is wrapped
	// together with the cause, e.g. errors.Is(err, ErrNotSent) and
	// errors.As(err, &exitErr) both hold.
	ErrNotSent = errors.New("rpc: request not sent")
	// ErrUnknownEventType is returned for an event type outside the contract's
	// inventory when strict event typing is on.
	ErrUnknownEventType = errors.New("rpc: unknown event type")
)

// Code is a semantic error code of the Meerkat contract, e.g. "SESSION_NOT_FOUND".
type Code string

// Remote error codes of the contract (errors.json).
const (
	CodeParseError                   Code = "PARSE_ERROR"
	CodeInvalidRequest               Code = "INVALID_REQUEST"
	CodeMethodNotFound               Code = "METHOD_NOT_FOUND"
	CodeInvalidParams                Code = "INVALID_PARAMS"
	CodeInternalError                Code = "INTERNAL_ERROR"
	CodeSessionNotFound              Code = "SESSION_NOT_FOUND"
	CodeSessionBusy                  Code = "SESSION_BUSY"
	CodeSessionNotRunning            Code = "SESSION_NOT_RUNNING"
	CodeDuplicateInput               Code = "DUPLICATE_INPUT"
	CodeRequestCancelled             Code = "REQUEST_CANCELLED"
	CodeProviderError                Code = "PROVIDER_ERROR"
	CodeBudgetExhausted              Code = "BUDGET_EXHAUSTED"
	CodeHookDenied                   Code = "HOOK_DENIED"
	CodeAgentError                   Code = "AGENT_ERROR"
	CodeCapabilityUnavailable        Code = "CAPABILITY_UNAVAILABLE"
	CodeSkillNotFound                Code = "SKILL_NOT_FOUND"
	CodeSkillResolutionFailed        Code = "SKILL_RESOLUTION_FAILED"
	CodeScheduleNotFound             Code = "SCHEDULE_NOT_FOUND"
	CodeSupervisorRotationIncomplete Code = "SUPERVISOR_ROTATION_INCOMPLETE"
	CodeScopeDenied                  Code = "SCOPE_DENIED"
	CodeHostUnavailable              Code = "HOST_UNAVAILABLE"
	CodeStaleCursor                  Code = "STALE_CURSOR"
	CodeStaleFence                   Code = "STALE_FENCE"
)

// codeByNumber is the contract's numeric ↔ semantic table.
var codeByNumber = map[int]Code{
	-32700: CodeParseError,
	-32600: CodeInvalidRequest,
	-32601: CodeMethodNotFound,
	-32602: CodeInvalidParams,
	-32603: CodeInternalError,
	-32001: CodeSessionNotFound,
	-32002: CodeSessionBusy,
	-32003: CodeSessionNotRunning,
	-32004: CodeDuplicateInput,
	-32005: CodeRequestCancelled,
	-32010: CodeProviderError,
	-32011: CodeBudgetExhausted,
	-32012: CodeHookDenied,
	-32013: CodeAgentError,
	-32020: CodeCapabilityUnavailable,
	-32021: CodeSkillNotFound,
	-32022: CodeSkillResolutionFailed,
	-32023: CodeScheduleNotFound,
	-32024: CodeSupervisorRotationIncomplete,
	-32025: CodeScopeDenied,
	-32026: CodeHostUnavailable,
	-32027: CodeStaleCursor,
	-32028: CodeStaleFence,
}

// NumberOf returns the JSON-RPC numeric code of a semantic code, or 0.
func NumberOf(c Code) int {
	for n, s := range codeByNumber {
		if s == c {
			return n
		}
	}
	return 0
}

// Sentinels for remote failures, matched with errors.Is against an [*Error]
// of the same semantic code. There is one for every code of the contract's
// errors.json and JSON-RPC table except CAPABILITY_UNAVAILABLE, which
// matches the client-side [ErrCapabilityUnavailable] instead, so that a
// local capability check and the runtime's refusal are matched alike.
var (
	ErrParseError                   error = &Error{Code: CodeParseError}
	ErrInvalidRequest               error = &Error{Code: CodeInvalidRequest}
	ErrSessionNotFound              error = &Error{Code: CodeSessionNotFound}
	ErrSessionBusy                  error = &Error{Code: CodeSessionBusy}
	ErrSessionNotRunning            error = &Error{Code: CodeSessionNotRunning}
	ErrDuplicateInput               error = &Error{Code: CodeDuplicateInput}
	ErrRequestCancelled             error = &Error{Code: CodeRequestCancelled}
	ErrProviderError                error = &Error{Code: CodeProviderError}
	ErrBudgetExhausted              error = &Error{Code: CodeBudgetExhausted}
	ErrHookDenied                   error = &Error{Code: CodeHookDenied}
	ErrAgentError                   error = &Error{Code: CodeAgentError}
	ErrSkillNotFound                error = &Error{Code: CodeSkillNotFound}
	ErrSkillResolutionFailed        error = &Error{Code: CodeSkillResolutionFailed}
	ErrScheduleNotFound             error = &Error{Code: CodeScheduleNotFound}
	ErrSupervisorRotationIncomplete error = &Error{Code: CodeSupervisorRotationIncomplete}
	ErrMethodNotFound               error = &Error{Code: CodeMethodNotFound}
	ErrInvalidParams                error = &Error{Code: CodeInvalidParams}
	ErrInternal                     error = &Error{Code: CodeInternalError}
	ErrScopeDenied                  error = &Error{Code: CodeScopeDenied}
	ErrHostUnavailable              error = &Error{Code: CodeHostUnavailable}
	ErrStaleCursor                  error = &Error{Code: CodeStaleCursor}
	ErrStaleFence                   error = &Error{Code: CodeStaleFence}
)

// CapabilityHint names the capability an error is about.
type CapabilityHint struct {
	CapabilityID string `json:"capability_id"`
	Message      string `json:"message"`
}

// Error is a failure reported by the runtime in a JSON-RPC error response.
// Code is the semantic code: data.code when the runtime sent one, else the
// contract's name for the numeric code, else the number as a string.
//
// errors.Is(err, ErrSessionBusy) and friends match on Code; errors.As gives
// access to the details.
type Error struct {
	// Number is the JSON-RPC numeric code, e.g. -32002.
	Number int
	// Code is the semantic code, e.g. CodeSessionBusy.
	Code Code
	// Message is the runtime's message.
	Message string
	// Details is data.details (or data.reason, or data itself) as raw JSON.
	Details json.RawMessage
	// Hint is data.capability_hint when present.
	Hint *CapabilityHint
	// Category is data.category, the contract's grouping of the code
	// ("session", "request", "provider", "budget", "hook", "agent",
	// "capability", "skill", "validation" or "internal"), when the runtime
	// sent the typed WireError form; empty otherwise.
	Category string
	// Method is the method whose call failed, when known.
	Method string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("rpc: ")
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Code))
	if e.Number != 0 && strconv.Itoa(e.Number) != string(e.Code) {
		fmt.Fprintf(&b, " (%d)", e.Number)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is matches another *Error with the same semantic code, and a
// CAPABILITY_UNAVAILABLE error matches [ErrCapabilityUnavailable].
func (e *Error) Is(target error) bool {
	if target == ErrCapabilityUnavailable {
		return e.Code == CodeCapabilityUnavailable
	}
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ScopeDenied is the details of a SCOPE_DENIED error; decode it with
// [Error.DecodeDetails].
type ScopeDenied struct {
	// Required is the scope the call needed, e.g. "admin_host".
	Required string `json:"required"`
	// Presented are the scopes the caller holds.
	Presented []string `json:"presented"`
}

// HostUnavailable is the details of a HOST_UNAVAILABLE error (a member host
// unreachable or timed out); decode it with [Error.DecodeDetails]. Both
// fields are optional on the wire.
type HostUnavailable struct {
	// Host names the unreachable host, when known.
	Host string `json:"host,omitempty"`
	// TimeoutMS is the timeout that expired, when the host timed out.
	TimeoutMS *uint64 `json:"timeout_ms,omitempty"`
}

// StaleCursor is the details of a STALE_CURSOR error (an event cursor
// overran an ephemeral host's buffer); decode it with [Error.DecodeDetails].
type StaleCursor struct {
	// Watermark is the host's current watermark: resume after it.
	Watermark uint64 `json:"watermark"`
	// Requested is the cursor that was asked for, when reported.
	Requested *uint64 `json:"requested,omitempty"`
	// Generation is the host's buffer generation, when reported.
	Generation *uint64 `json:"generation,omitempty"`
}

// StaleFence is the details of a STALE_FENCE error (a command carried a
// superseded generation and fence); decode it with [Error.DecodeDetails].
// Every field is optional on the wire.
type StaleFence struct {
	// Expected is the fence the runtime expected, when reported.
	Expected *uint64 `json:"expected,omitempty"`
	// Actual is the fence the command carried, when reported.
	Actual *uint64 `json:"actual,omitempty"`
	// RuntimeID names the runtime whose fence moved on, when reported.
	RuntimeID string `json:"runtime_id,omitempty"`
}

// DecodeDetails unmarshals e.Details into v.
func (e *Error) DecodeDetails(v any) error {
	if len(e.Details) == 0 {
		return fmt.Errorf("%w: error %s has no details", ErrInvalidResponse, e.Code)
	}
	return json.Unmarshal(e.Details, v)
}

// wireError is the JSON-RPC error object.
type wireError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// remoteError maps a wire error onto *Error following the contract:
// data.code wins over the numeric table; details come from data.details,
// then data.reason, then data itself; data.category and
// data.capability_hint are kept.
func remoteError(method string, w *wireError) *Error {
	e := &Error{Number: w.Code, Message: w.Message, Method: method}
	var data struct {
		Code           string          `json:"code"`
		Message        string          `json:"message"`
		Details        json.RawMessage `json:"details"`
		Reason         json.RawMessage `json:"reason"`
		Category       json.RawMessage `json:"category"`
		CapabilityHint *CapabilityHint `json:"capability_hint"`
	}
	isObject := len(w.Data) > 0 && w.Data[0] == '{'
	if isObject && json.Unmarshal(w.Data, &data) == nil {
		if data.Code != "" {
			e.Code = Code(data.Code)
			if data.Message != "" {
				e.Message = data.Message
			}
		}
		switch {
		case len(data.Details) > 0 && string(data.Details) != "null":
			e.Details = data.Details
		case len(data.Reason) > 0 && string(data.Reason) != "null":
			e.Details = data.Reason
		default:
			e.Details = w.Data
		}
		e.Hint = data.CapabilityHint
		// Ad-hoc data objects may use "category" otherwise: only a
		// string is the WireError's.
		_ = json.Unmarshal(data.Category, &e.Category)
	} else if len(w.Data) > 0 && string(w.Data) != "null" {
		e.Details = w.Data
	}
	if e.Code == "" {
		if c, ok := codeByNumber[w.Code]; ok {
			e.Code = c
		} else {
			e.Code = Code(strconv.Itoa(w.Code))
		}
	}
	return e
}

// ExitError reports that the runtime process ended. It wraps
// [ErrConnectionClosed] (or the cause that made the client give up on it).
type ExitError struct {
	// ExitCode is the process exit status; -1 when it was killed by a signal
	// or is not known.
	ExitCode int
	// Signal names the signal that ended the process, if any.
	Signal string
	// Stderr holds the last lines the runtime wrote to stderr.
	Stderr []string
	// Err is the underlying cause, ErrConnectionClosed unless said otherwise.
	Err error
}

// Error implements error.
func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString("rpc: runtime exited")
	if e.Signal != "" {
		fmt.Fprintf(&b, " (signal %s)", e.Signal)
	} else if e.ExitCode >= 0 {
		fmt.Fprintf(&b, " (exit code %d)", e.ExitCode)
	}
	if e.Err != nil && !errors.Is(e.Err, ErrConnectionClosed) {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.Stderr) > 0 {
		b.WriteString("; last stderr: ")
		b.WriteString(strings.Join(e.Stderr, " | "))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *ExitError) Unwrap() []error { return []error{ErrConnectionClosed, e.Err} }

// notSent wraps the cause of a call that never reached the runtime.
type notSent struct{ err error }

func (e notSent) Error() string   { return e.err.Error() + " (request not sent)" }
func (e notSent) Unwrap() []error { return []error{ErrNotSent, e.err} }
