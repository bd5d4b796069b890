package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// Error codes of the API's typed errors, one per kind of failure a client
// may handle.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeInvalidRequest     = "invalid_request"
	CodeBodyTooLarge       = "body_too_large"
	CodeUnsupportedMedia   = "unsupported_media_type"
	CodeInvalidDefinition  = "invalid_definition"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeMobNotFound        = "mob_not_found"
	CodeMemberNotFound     = "member_not_found"
	CodeFlowNotFound       = "flow_not_found"
	CodeRunNotFound        = "run_not_found"
	CodeStepNotFound       = "step_not_found"
	CodeSessionNotFound    = "session_not_found"
	CodeMobExists          = "mob_exists"
	CodeDuplicateMember    = "duplicate_member"
	CodeWrongState         = "wrong_state"
	CodeRunFinished        = "run_finished"
	CodeRunIDConflict      = "run_id_conflict"
	CodeCursorAhead        = "cursor_ahead"
	CodeNotAwaiting        = "not_awaiting_approval"
	CodeNotApprover        = "not_approver"
	CodeTopology           = "forbidden_by_topology"
	CodeUnknownProfile     = "unknown_profile"
	CodeOverloaded         = "overloaded"
	CodeUnavailable        = "unavailable"
	CodeTimeout            = "timeout"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeInternal           = "internal"
	CodeNotImplemented     = "not_implemented"
	CodeTurnFailed         = "turn_failed"
	CodeRuntimeUnavailable = "runtime_unavailable"
	// CodeMemberSession refuses a turn on, or the archive of, the session
	// of a live mob member through the sessions API: the mob's API is the
	// way to it.
	CodeMemberSession = "member_session"
)

// APIError is the API's typed error: an HTTP status, a machine-readable
// code (one of the Code* constants) and a message. Fields lists the
// problems of an invalid definition, each named by its path.
type APIError struct {
	Status  int          `json:"-"`
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"fields,omitempty"`
}

// FieldError is one problem of an invalid definition.
type FieldError struct {
	// Path locates the field, e.g. "flows.review.steps.dig.depends_on[0]".
	Path string `json:"path"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// Error implements error.
func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// errorBody is the JSON envelope of an error response.
type errorBody struct {
	Error *APIError `json:"error"`
}

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// toAPIError classifies err: package mob's, actors' and flows' sentinels
// get their 4xx status and code, everything else is a 500. A definition
// refused by flows or by the mob (matching mob.ErrInvalidArgument as well)
// is a 422 with its problems; the other arguments mob refuses are 400s.
func toAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var verr *flows.ValidationError
	if errors.As(err, &verr) {
		out := &APIError{Status: http.StatusUnprocessableEntity, Code: CodeInvalidDefinition, Message: "invalid definition"}
		for _, fe := range verr.Errors {
			out.Fields = append(out.Fields, FieldError{Path: fe.Path, Message: fe.Msg})
		}
		return out
	}
	msg := err.Error()
	table := []struct {
		target error
		status int
		code   string
	}{
		{mob.ErrInvalidArgument, http.StatusBadRequest, CodeInvalidRequest},
		{mob.ErrMobNotFound, http.StatusNotFound, CodeMobNotFound},
		{mob.ErrMemberNotFound, http.StatusNotFound, CodeMemberNotFound},
		{actors.ErrMemberNotFound, http.StatusNotFound, CodeMemberNotFound},
		{mob.ErrFlowNotFound, http.StatusNotFound, CodeFlowNotFound},
		{mob.ErrRunNotFound, http.StatusNotFound, CodeRunNotFound},
		{actors.ErrSessionNotFound, http.StatusNotFound, CodeSessionNotFound},
		{mob.ErrMobExists, http.StatusConflict, CodeMobExists},
		{mob.ErrDuplicateMember, http.StatusConflict, CodeDuplicateMember},
		{actors.ErrDuplicateMember, http.StatusConflict, CodeDuplicateMember},
		{mob.ErrLifecycle, http.StatusConflict, CodeWrongState},
		{mob.ErrClosed, http.StatusConflict, CodeWrongState},
		{mob.ErrRunFinished, http.StatusConflict, CodeRunFinished},
		{mob.ErrRunIDConflict, http.StatusConflict, CodeRunIDConflict},
		{mob.ErrStepNotFound, http.StatusNotFound, CodeStepNotFound},
		{mob.ErrNotAwaitingApproval, http.StatusConflict, CodeNotAwaiting},
		{mob.ErrNotApprover, http.StatusForbidden, CodeNotApprover},
		{mob.ErrTopology, http.StatusConflict, CodeTopology},
		{actors.ErrNotPeer, http.StatusConflict, CodeTopology},
		{mob.ErrUnknownProfile, http.StatusUnprocessableEntity, CodeUnknownProfile},
		{actors.ErrOverloaded, http.StatusTooManyRequests, CodeOverloaded},
		{actors.ErrRuntimeUnavailable, http.StatusServiceUnavailable, CodeRuntimeUnavailable},
		{actors.ErrEngineStopped, http.StatusServiceUnavailable, CodeUnavailable},
		{context.DeadlineExceeded, http.StatusGatewayTimeout, CodeTimeout},
		{actors.ErrTurnLost, http.StatusBadGateway, CodeTurnFailed},
		{actors.ErrTurnOutcomeUnknown, http.StatusBadGateway, CodeTurnFailed},
		{mob.ErrMemberGone, http.StatusBadGateway, CodeTurnFailed},
	}
	for _, t := range table {
		if errors.Is(err, t.target) {
			return &APIError{Status: t.status, Code: t.code, Message: msg}
		}
	}
	// The runtime refused or failed the request: the request's own
	// content (a prompt it cannot take) or an upstream failure (the
	// provider, a budget, a hook), not the daemon's.
	var re *rpc.Error
	if errors.As(err, &re) {
		if re.Code == rpc.CodeInvalidParams {
			return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg}
		}
		return &APIError{Status: http.StatusBadGateway, Code: CodeTurnFailed, Message: msg}
	}
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: msg}
}
