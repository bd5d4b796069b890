package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseEnvelope checks that envelope and event parsing never panic, and
// that the hand-written scanner agrees with encoding/json: it accepts
// exactly the documents json.Valid accepts, and decodes strings the same
// way. Seeds: testdata/fuzz/FuzzParseEnvelope and the golden envelopes.
func FuzzParseEnvelope(f *testing.F) {
	for _, line := range evGoldenLines(f) {
		f.Add(line)
	}
	f.Add([]byte(evBase))
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := json.Valid(data)
		for _, strict := range []bool{false, true} {
			env, err := ParseEnvelope(data, EventOptions{Strict: strict})
			switch {
			case err == nil:
				if !valid {
					t.Fatalf("accepted invalid JSON %q", data)
				}
				if env.Event == nil || !isCanonicalUUID(env.EventID) || env.Source.Type == "" || len(env.Payload) == 0 {
					t.Fatalf("incomplete envelope %+v from %q", env, data)
				}
				if env.Event.EventType() == "" {
					t.Fatalf("event without type %#v", env.Event)
				}
			case errors.Is(err, ErrUnknownEventType):
				if !strict || !valid {
					t.Fatalf("unexpected %v for %q", err, data)
				}
				if _, ok := env.Event.(*UnknownEvent); !ok {
					t.Fatalf("strict unknown type gave %#v", env.Event)
				}
			case !errors.Is(err, ErrInvalidResponse):
				t.Fatalf("error %v does not wrap ErrInvalidResponse", err)
			}
		}

		ev, err := ParseEvent(data, EventOptions{})
		if err != nil || ev == nil {
			t.Fatalf("ParseEvent(%q) = %v, %v", data, ev, err)
		}
		if u, ok := ev.(*UnknownEvent); ok && u.Type == MalformedEventType && u.Err == nil {
			t.Fatalf("malformed event without Err: %#v", u)
		}

		// The scanner accepts exactly what encoding/json accepts.
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		isObject := valid && len(trimmed) > 0 && trimmed[0] == '{'
		ms, perr := evParseDocument(data, nil)
		if (perr == nil) != isObject {
			t.Fatalf("parseDocument(%q) error %v, json.Valid %v", data, perr, valid)
		}
		if perr != nil {
			return
		}
		var byKey map[string]json.RawMessage
		if err := json.Unmarshal(data, &byKey); err != nil {
			t.Fatalf("json.Unmarshal of accepted object: %v", err)
		}
		for _, m := range ms {
			quoted := append(append([]byte{'"'}, m.key...), '"')
			key := evDecodeRawString(t, quoted)
			var wantKey string
			if err := json.Unmarshal(quoted, &wantKey); err != nil || key != wantKey {
				t.Fatalf("key %q decoded as %q, encoding/json %q (%v)", m.key, key, wantKey, err)
			}
			if m.val[0] == '"' {
				got, _ := evString(m)
				var want string
				if err := json.Unmarshal(m.val, &want); err != nil || got != want {
					t.Fatalf("string %q decoded as %q, encoding/json %q (%v)", m.val, got, want, err)
				}
			}
		}
		if len(ms) > 0 {
			last := ms[len(ms)-1]
			key := evDecodeRawString(t, append(append([]byte{'"'}, last.key...), '"'))
			if i := evFind(ms, key); i < 0 || !bytes.Equal(ms[i].val, byKey[key]) {
				t.Fatalf("evFind(%q) = %d, encoding/json kept %s", key, i, byKey[key])
			}
		}
	})
}

// evDecodeRawString decodes the JSON string literal raw with the scanner.
func evDecodeRawString(t *testing.T, raw []byte) string {
	t.Helper()
	end, esc := evScanString(raw, 0)
	if end != len(raw) {
		t.Fatalf("evScanString(%q) = %d", raw, end)
	}
	s, ok := evString(evMember{val: raw, vesc: esc})
	if !ok {
		t.Fatalf("evString(%q) failed", raw)
	}
	return s
}
