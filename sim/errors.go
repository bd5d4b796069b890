package sim

import (
	"encoding/json"
	"errors"
	"fmt"
)

// JSON-RPC and Meerkat error codes used on the wire.
const (
	codeParseError          = -32700
	codeInvalidRequest      = -32600
	codeMethodNotFound      = -32601
	codeInvalidParams       = -32602
	codeInternalError       = -32603
	codeSessionNotFound     = -32001
	codeSessionBusy         = -32002
	codeSessionNotRunning   = -32003
	codeDuplicateInput      = -32004
	codeRequestCancelled    = -32005
	codeProviderError       = -32010
	codeBudgetExhausted     = -32011
	codeHookDenied          = -32012
	codeAgentError          = -32013
	codeCapabilityUnavail   = -32020
	codeSkillNotFound       = -32021
	codeSkillResolution     = -32022
	codeScheduleNotFound    = -32023
	codeSupervisorRotation  = -32024
	codeScopeDenied         = -32025
	codeHostUnavailable     = -32026
	codeStaleCursor         = -32027
	codeStaleFence          = -32028
	defaultSimulatedMessage = "simulated error"
)

// ErrSimulatedCrash is returned by Serve after a [[sim:crash]] directive; the
// rkat-sim executable exits with status 3 when it sees it.
var ErrSimulatedCrash = errors.New("sim: simulated crash")

// semanticCodes maps numeric codes to their semantic names (errors.json).
var semanticCodes = map[int]string{
	codeParseError:         "PARSE_ERROR",
	codeInvalidRequest:     "INVALID_REQUEST",
	codeMethodNotFound:     "METHOD_NOT_FOUND",
	codeInvalidParams:      "INVALID_PARAMS",
	codeInternalError:      "INTERNAL_ERROR",
	codeSessionNotFound:    "SESSION_NOT_FOUND",
	codeSessionBusy:        "SESSION_BUSY",
	codeSessionNotRunning:  "SESSION_NOT_RUNNING",
	codeDuplicateInput:     "DUPLICATE_INPUT",
	codeRequestCancelled:   "REQUEST_CANCELLED",
	codeProviderError:      "PROVIDER_ERROR",
	codeBudgetExhausted:    "BUDGET_EXHAUSTED",
	codeHookDenied:         "HOOK_DENIED",
	codeAgentError:         "AGENT_ERROR",
	codeCapabilityUnavail:  "CAPABILITY_UNAVAILABLE",
	codeSkillNotFound:      "SKILL_NOT_FOUND",
	codeSkillResolution:    "SKILL_RESOLUTION_FAILED",
	codeScheduleNotFound:   "SCHEDULE_NOT_FOUND",
	codeSupervisorRotation: "SUPERVISOR_ROTATION_INCOMPLETE",
	codeScopeDenied:        "SCOPE_DENIED",
	codeHostUnavailable:    "HOST_UNAVAILABLE",
	codeStaleCursor:        "STALE_CURSOR",
	codeStaleFence:         "STALE_FENCE",
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

func newError(code int, format string, args ...any) *rpcError {
	return &rpcError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidParams(format string, args ...any) *rpcError {
	return newError(codeInvalidParams, format, args...)
}

func sessionNotFound(id string) *rpcError {
	return newError(codeSessionNotFound, "Session not found: %s", id)
}

func internalError(err error) *rpcError {
	return newError(codeInternalError, "Internal error: %v", err)
}

func mobNotFound(id string) *rpcError {
	return invalidParams("Mob not found: %s", id)
}
