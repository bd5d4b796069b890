package server

import (
	"errors"
	"net/http"
	"testing"
)

// TestDecodeStrictRefusesTrailingData checks that a body is exactly one
// JSON value: anything after it, a stray closing bracket or brace
// included, is a 400 invalid_json rather than silently ignored.
func TestDecodeStrictRefusesTrailingData(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		ok         bool
	}{
		{"one value", `{"action":"stop"}`, true},
		{"trailing space", "{\"action\":\"stop\"} \n\t", true},
		{"second value", `{"action":"stop"} {}`, false},
		{"trailing word", `{"action":"stop"} x`, false},
		{"trailing brace", `{"action":"stop"}}`, false},
		{"trailing bracket", `{"action":"stop"}]`, false},
		{"trailing comma", `{"action":"stop"},`, false},
		{"trailing colon", `{"action":"stop"}:`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req LifecycleRequest
			err := decodeStrict([]byte(c.body), &req)
			if c.ok {
				if err != nil || req.Action != "stop" {
					t.Fatalf("decodeStrict(%q) = %v, %+v; want the request", c.body, err, req)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != CodeInvalidJSON {
				t.Fatalf("decodeStrict(%q) = %v; want a 400 %s", c.body, err, CodeInvalidJSON)
			}
		})
	}
}
