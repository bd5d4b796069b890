package contract

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Message kinds, as passed to [Contract.ValidateOutbound] and written in
// transcripts. A runtime writes the first three on stdout; Garbage marks a
// transcript line that is deliberately not a JSON-RPC message.
const (
	KindResponse     = "response"
	KindNotification = "notification"
	KindRequest      = "request"
	KindGarbage      = "garbage"
)

// ErrNoSchema is wrapped by the errors of [Contract.ValidateOutbound] and
// [Contract.ValidateParams] when a message was well formed as far as it could
// be checked but its result or params type has no schema anywhere: neither
// in the contract nor among the hand-written ones. Callers that accept such
// messages test for it with [errors.Is]; nothing passes silently.
var ErrNoSchema = errors.New("contract: no schema for this type")

// SchemaError is a schema validation failure. Schema names what was
// checked, e.g. "WireRunResult (rest-openapi.json)".
type SchemaError struct {
	Schema string
	Err    *jsonschema.ValidationError
}

func (e *SchemaError) Error() string { return e.Schema + ": " + compact(e.Err) }

func (e *SchemaError) Unwrap() error { return e.Err }

// compact renders a validation error on one line, without the made-up
// schema URL the library leads with.
func compact(err *jsonschema.ValidationError) string {
	lines := strings.Split(err.Error(), "\n")
	if len(lines) > 1 && strings.HasPrefix(lines[0], "jsonschema validation failed") {
		lines = lines[1:]
	}
	out := lines[:0]
	for _, l := range lines {
		l = strings.TrimPrefix(strings.TrimSpace(l), "- ")
		if l != "" {
			out = append(out, strings.ReplaceAll(l, baseURL, ""))
		}
	}
	return strings.Join(out, "; ")
}

func check(s *jsonschema.Schema, name string, v any) error {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		return &SchemaError{Schema: name, Err: verr}
	}
	return fmt.Errorf("%s: %w", name, err)
}

// decode parses one JSON value the way the schemas expect it (numbers kept
// as json.Number, so integer widths are checked exactly).
func decode(b []byte) (any, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a JSON value: %w", err)
	}
	return v, nil
}

// ValidateOutbound validates one message a runtime wrote on stdout. kind is
// [KindResponse], [KindNotification] or [KindRequest] (server to client).
// For a response, method is the method of the request it answers; for
// notifications and requests it may be empty (the message's own method is
// used) and must otherwise agree with it.
//
// Every message must be a well-formed JSON-RPC 2.0 frame. Results are
// checked against the method's result_type (any alternative of a union may
// match); error responses are checked for shape only, for any method,
// since unknown methods are answered with -32601. Notification and request
// params, event envelopes and payloads are checked as the package
// documentation describes.
//
// A message that passes every check that applies to it but whose result
// type has no schema anywhere returns an error wrapping [ErrNoSchema].
func (c *Contract) ValidateOutbound(kind, method string, msg []byte) error {
	v, err := decode(msg)
	if err != nil {
		return err
	}
	return c.outbound(kind, method, v)
}

func (c *Contract) outbound(kind, method string, v any) error {
	switch kind {
	case KindResponse:
		return c.checkResponse(method, v)
	case KindNotification:
		return c.checkNotification(method, v)
	case KindRequest:
		return c.checkRequest(method, v)
	}
	return fmt.Errorf("unknown message kind %q", kind)
}

func (c *Contract) checkResponse(method string, v any) error {
	if err := check(c.response, "JSON-RPC response", v); err != nil {
		return err
	}
	obj := v.(map[string]any)
	if _, isError := obj["error"]; isError {
		return nil
	}
	m := c.byMethod[method]
	if m == nil {
		if method == "" {
			return errors.New("result response: the request's method is not known")
		}
		return fmt.Errorf("result for unknown method %q", method)
	}
	if err := c.checkResult(m, obj["result"]); err != nil {
		return fmt.Errorf("result of %s: %w", method, err)
	}
	return nil
}

// checkResult accepts a result that matches any alternative of the union.
func (c *Contract) checkResult(m *methodSpec, result any) error {
	if len(m.resultTypes) == 0 {
		return fmt.Errorf("no result_type: %w", ErrNoSchema)
	}
	var errs []error
	var missing []string
	for _, t := range m.resultTypes {
		ts, ok := c.types[t]
		if !ok {
			missing = append(missing, t)
			continue
		}
		err := check(ts.schema, t+" ("+ts.source+")", result)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(missing) > 0 {
		// It may be the alternative nothing describes.
		return fmt.Errorf("%s: %w", strings.Join(missing, " | "), ErrNoSchema)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("matches no alternative of %s: %w", strings.Join(m.resultTypes, " | "), errors.Join(errs...))
}

func (c *Contract) checkNotification(method string, v any) error {
	if err := check(c.notification, "JSON-RPC notification", v); err != nil {
		return err
	}
	obj := v.(map[string]any)
	got := obj["method"].(string)
	if method != "" && method != got {
		return fmt.Errorf("notification method is %q, expected %q", got, method)
	}
	if !c.isNotif[got] {
		return fmt.Errorf("unknown notification %q", got)
	}
	ps := c.notifParams[got]
	if ps == nil {
		return fmt.Errorf("notification %q goes from client to server; a runtime does not send it", got)
	}
	params := obj["params"].(map[string]any)
	if err := check(ps, got+" params", params); err != nil {
		return err
	}
	event := params["event"]
	switch got {
	case "session/event", "session/stream_event":
		if err := c.checkEnvelope(event); err != nil {
			return fmt.Errorf("%s params.event: %w", got, err)
		}
	case "mob/stream_event":
		if ev, _ := event.(map[string]any); ev != nil && ev["envelope"] != nil {
			if err := check(c.attributed, "AttributedEvent", ev); err != nil {
				return fmt.Errorf("%s params.event: %w", got, err)
			}
			if err := c.checkEnvelope(ev["envelope"]); err != nil {
				return fmt.Errorf("%s params.event.envelope: %w", got, err)
			}
		} else if err := c.checkEnvelope(event); err != nil {
			return fmt.Errorf("%s params.event (bare envelope; an attributed event needs \"envelope\"): %w", got, err)
		}
	}
	return nil
}

func (c *Contract) checkRequest(method string, v any) error {
	if err := check(c.request, "JSON-RPC request", v); err != nil {
		return err
	}
	obj := v.(map[string]any)
	got := obj["method"].(string)
	if method != "" && method != got {
		return fmt.Errorf("request method is %q, expected %q", got, method)
	}
	ps := c.requestParams[got]
	if ps == nil {
		return fmt.Errorf("unknown server-to-client request %q", got)
	}
	return check(ps, got+" params", obj["params"])
}

// checkEnvelope validates an event envelope three ways: the SDK's strictness
// (hand-written), rest-openapi EventEnvelope, and the payload against
// events.json AgentEvent; payloads are checked against their own type's
// variant.
func (c *Contract) checkEnvelope(ev any) error {
	var errs []error
	if err := check(c.env.strict, "EventEnvelope (protocol.md §4.3)", ev); err != nil {
		errs = append(errs, err)
	}
	obj, _ := ev.(map[string]any)
	payload, _ := obj["payload"].(map[string]any)
	ty, typed := payload["type"].(string)

	type payloadCheck struct {
		file   string
		byType map[string]*jsonschema.Schema // nil: use full
		full   *jsonschema.Schema
	}
	var payloadChecks []payloadCheck
	if c.env.frame != nil {
		if err := check(c.env.frame, "EventEnvelope (rest-openapi.json)", ev); err != nil {
			errs = append(errs, err)
		}
		payloadChecks = append(payloadChecks, payloadCheck{"rest-openapi.json", c.env.openapiByTy, nil})
	} else if err := check(c.env.openapi, "EventEnvelope (rest-openapi.json)", ev); err != nil {
		errs = append(errs, err)
	}
	if !typed {
		// The strict schema reports a missing payload or type; the full
		// oneOf dumps would only repeat it forty times.
		return errors.Join(errs...)
	}
	payloadChecks = append(payloadChecks, payloadCheck{"events.json", c.env.eventsByTy, c.env.events})
	var unknown []string
	for _, p := range payloadChecks {
		s, name := p.full, "AgentEvent ("+p.file+")"
		if p.byType != nil {
			if s = p.byType[ty]; s == nil {
				unknown = append(unknown, p.file)
				continue
			}
			name = "AgentEvent[" + ty + "] (" + p.file + ")"
		}
		if err := check(s, name, payload); err != nil {
			errs = append(errs, err)
		}
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("payload type %q is not an AgentEvent variant in %s", ty, strings.Join(unknown, " or ")))
	}
	return errors.Join(errs...)
}

// ValidateParams validates the params of a request or notification a client
// sends (to check the SDK's requests). params is the raw params value; empty
// means the message had none, which only the initialized notification may
// do. Methods without a params_type take an object ({} when empty). A
// params type with no schema anywhere gives an error wrapping
// [ErrNoSchema].
func (c *Contract) ValidateParams(method string, params []byte) error {
	var v any
	present := len(bytes.TrimSpace(params)) > 0
	if present {
		var err error
		if v, err = decode(params); err != nil {
			return fmt.Errorf("params of %s: %w", method, err)
		}
	}
	m := c.byMethod[method]
	if m == nil {
		if c.isNotif[method] && c.notifParams[method] == nil {
			if present {
				if err := check(c.noParams, method+" params", v); err != nil {
					return err
				}
			}
			if method == "initialized" {
				return nil
			}
			return fmt.Errorf("params of notification %s: %w", method, ErrNoSchema)
		}
		if c.isNotif[method] {
			return fmt.Errorf("%s is a server-to-client notification", method)
		}
		return fmt.Errorf("unknown method %q", method)
	}
	if !present {
		return fmt.Errorf("params of %s: missing (params is always an object)", method)
	}
	if m.paramsType == "" {
		return check(c.noParams, method+" params", v)
	}
	ts, ok := c.types[m.paramsType]
	if !ok {
		return fmt.Errorf("params of %s: %s: %w", method, m.paramsType, ErrNoSchema)
	}
	return check(ts.schema, m.paramsType+" ("+ts.source+")", v)
}
