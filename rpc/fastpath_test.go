package rpc

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// fastLine builds a session/event line in the runtime's member order.
func fastLine(payload string) string {
	return `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142","event":` +
		`{"event_id":"2fb17f99-4d4a-4f68-9c96-20eb5d800012","source":{"type":"session","session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142"},` +
		`"seq":12,"timestamp_ms":1795623149343,"payload":` + payload + `}}}`
}

// fastSeeds are lines the fast path accepts, and variations it must decline.
var fastSeeds = []struct {
	name   string
	line   string
	accept bool
}{
	{"text delta", fastLine(`{"type":"text_delta","delta":" alpha"}`), true},
	{"reasoning delta", fastLine(`{"type":"reasoning_delta","delta":"hm"}`), true},
	{"text complete", fastLine(`{"type":"text_complete","content":"all of it"}`), true},
	{"reasoning complete", fastLine(`{"type":"reasoning_complete","content":""}`), true},
	{"escaped text", fastLine(`{"type":"text_delta","delta":"\"Gr\u00fc\u00dfe\",\n\tsaid he \ud83d\ude00"}`), true},
	{"unknown payload member", fastLine(`{"type":"text_delta","delta":"x","extra":[1,{"a":null}]}`), true},
	{"type after text", fastLine(`{"delta":"x","type":"text_delta"}`), true},
	{"white space", strings.ReplaceAll(fastLine(`{ "type" : "text_delta" , "delta" : "x" }`), `":`, `" :`) + " \t", true},
	{"members reordered", `{"params":{"event":{"payload":{"type":"text_delta","delta":"x"},"timestamp_ms":1,"seq":0,` +
		`"source":{"session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142","type":"session"},"event_id":"2fb17f99-4d4a-4f68-9c96-20eb5d800012"},` +
		`"session_id":"s-1"},"method":"session/event","jsonrpc":"2.0"}`, true},
	{"mob id", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"mob_id":"m1","seq":12`, 1), true},
	{"null mob id", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"mob_id":null,"seq":12`, 1), true},

	{"run completed", fastLine(`{"type":"run_completed","session_id":"s","result":"r","usage":{}}`), false},
	{"delta missing", fastLine(`{"type":"text_delta"}`), false},
	{"content for a delta", fastLine(`{"type":"text_delta","content":"x"}`), false},
	{"delta not a string", fastLine(`{"type":"text_delta","delta":1}`), false},
	{"escaped key", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq"`, `"s\u0065q"`, 1), false},
	{"duplicate member", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"seq":12,"seq":13`, 1), false},
	{"upper-case uuid", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), "2fb17f99", "2FB17F99", 1), false},
	{"fractional seq", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"seq":12.0`, 1), false},
	{"negative seq", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"seq":-1`, 1), false},
	{"huge seq", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"seq":18446744073709551616`, 1), false},
	{"runtime source", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"type":"session","session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142"`, `"type":"runtime","runtime_id":"r"`, 1), false},
	{"scoped", `{"jsonrpc":"2.0","method":"session/event","params":{"session_id":"s","event":{"scope_id":"x","scope_path":[],"event":{}}}}`, false},
	{"response", `{"jsonrpc":"2.0","id":3,"result":{}}`, false},
	{"other method", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), "session/event", "session/stream_event", 1), false},
	{"trailing data", fastLine(`{"type":"text_delta","delta":"x"}`) + "x", false},
	{"truncated", fastLine(`{"type":"text_delta","delta":"x"}`)[:200], false},
	{"session id of a uuid's length", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142","event"`, `"session_id":"aaaa","zz":"bbbbbbbbbbbbbbbbbbbbbbbbb","event"`, 1), true},
	{"params session id not a uuid", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"session_id":"01a21384-a5b4-7cfe-a20a-a481b1b41142","event"`, `"session_id":"s-1","event"`, 1), true},
	{"empty mob id", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `"seq":12`, `"mob_id":"","seq":12`, 1), false},
	// checkFastAgrees also types each line after fastLine's timestamp:
	// these extend it, which the remembered digits must not hide.
	{"timestamp one digit longer", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `1795623149343`, `17956231493431`, 1), true},
	{"timestamp with a fraction", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `1795623149343`, `1795623149343.5`, 1), false},
	{"timestamp with an exponent", strings.Replace(fastLine(`{"type":"text_delta","delta":"x"}`), `1795623149343`, `1795623149343e1`, 1), false},
}

// fastSeed returns the line of the seed named name.
func fastSeed(name string) string {
	for _, s := range fastSeeds {
		if s.name == name {
			return s.line
		}
	}
	panic("no fast path seed " + name)
}

// checkFastAgrees fails t if the fast path accepts line and the general
// path does not type it to the same envelope for the same session.
func checkFastAgrees(t *testing.T, line []byte) (accepted bool) {
	t.Helper()
	var fe fastEvent
	st := fastState{arena: new(arena)}
	sid, ok := fastSessionEvent(line, &fe, &st)
	if !ok {
		checkPrimedAgrees(t, line, nil, Envelope{})
		return false
	}
	fast := fe.envelope()
	var sc frameScanner
	f, err := sc.scan(line)
	if err != nil {
		t.Fatalf("fast path accepted a line the general path rejects (%v): %q", err, line)
	}
	if name, _ := notificationName(f.method); name != "session/event" || f.id != nil {
		t.Fatalf("fast path accepted a %q frame with id %s: %q", name, f.id, line)
	}
	if got := rawKey(f.session); string(got) != string(sid) {
		t.Fatalf("fast path routes to session %q, general path to %q", sid, got)
	}
	general, err := ParseEnvelope(f.event, EventOptions{Strict: true})
	if err != nil {
		t.Fatalf("fast path accepted an envelope the general path rejects (%v): %q", err, line)
	}
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("paths disagree on %q:\nfast    %#v\ngeneral %#v", line, fast, general)
	}
	checkPrimedAgrees(t, line, sid, fast)
	return true
}

// checkPrimedAgrees types line again with a state that has typed another
// line of a stream before it, as the reader's does, and fails t unless the
// outcome is the same as with a fresh state: declined if sid is nil, else
// accepted for session sid with envelope want.
func checkPrimedAgrees(t *testing.T, line, sid []byte, want Envelope) {
	t.Helper()
	st := fastState{arena: new(arena)}
	var prev, fe fastEvent
	if _, ok := fastSessionEvent([]byte(fastLine(`{"type":"text_delta","delta":"before"}`)), &prev, &st); !ok {
		t.Fatal("fast path declined fastLine")
	}
	got, ok := fastSessionEvent(line, &fe, &st)
	if sid == nil {
		if ok {
			t.Fatalf("after another line, fast path accepted a line it declines fresh: %q", line)
		}
		return
	}
	if !ok || string(got) != string(sid) {
		t.Fatalf("after another line, fast path accepted=%v for session %q; fresh: accepted for %q: %q", ok, got, sid, line)
	}
	if env := fe.envelope(); !reflect.DeepEqual(env, want) {
		t.Fatalf("after another line, fast path types %q differently:\nprimed %#v\nfresh  %#v", line, env, want)
	}
}

func TestFastPath(t *testing.T) {
	for _, tc := range fastSeeds {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFastAgrees(t, []byte(tc.line)); got != tc.accept {
				t.Fatalf("fast path accepted=%v, want %v for %s", got, tc.accept, tc.line)
			}
		})
	}
}

// TestFastPathSharesSessionID checks that consecutive events of one session
// share the source id string, and that an event's strings do not change
// when later lines reuse the read buffer.
func TestFastPathSharesSessionID(t *testing.T) {
	st := fastState{arena: new(arena)}
	buf := []byte(fastLine(`{"type":"text_delta","delta":"one"}`))
	var fa, fb fastEvent
	if _, ok := fastSessionEvent(buf, &fa, &st); !ok {
		t.Fatal("declined")
	}
	copy(buf, fastLine(`{"type":"text_delta","delta":"two"}`))
	if _, ok := fastSessionEvent(buf, &fb, &st); !ok {
		t.Fatal("declined")
	}
	for i := range buf {
		buf[i] = 'x'
	}
	a, b := fa.envelope(), fb.envelope()
	if a.Event.(*TextDelta).Delta != "one" || b.Event.(*TextDelta).Delta != "two" || string(a.Payload) != `{"type":"text_delta","delta":"one"}` {
		t.Fatalf("events refer to the line: %+v %+v", a, b)
	}
	if a.Source.SessionID != b.Source.SessionID || a.EventID != "2fb17f99-4d4a-4f68-9c96-20eb5d800012" {
		t.Fatalf("ids %q %q %q", a.Source.SessionID, b.Source.SessionID, a.EventID)
	}
}

// FuzzFastPath checks that whatever the fast path accepts, the general path
// types identically.
func FuzzFastPath(f *testing.F) {
	for _, tc := range fastSeeds {
		f.Add([]byte(tc.line))
	}
	for i := range 3 {
		f.Add([]byte(fastLine(fmt.Sprintf(`{"type":"text_delta","delta":"%d"}`, i))))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkFastAgrees(t, line)
	})
}

// BenchmarkFastSessionEvent types a text delta line as the runtime writes
// it (the template tier), and the same line with its members reordered
// (the member-by-member tier).
func BenchmarkFastSessionEvent(b *testing.B) {
	for _, tc := range []struct{ name, line string }{
		{"template", fastLine(`{"type":"text_delta","delta":" alpha"}`)},
		{"members", fastSeed("members reordered")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			line := []byte(tc.line)
			st := fastState{arena: new(arena)}
			var f fastEvent
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				f = fastEvent{}
				if _, ok := fastSessionEvent(line, &f, &st); !ok {
					b.Fatal("declined")
				}
			}
		})
	}
}
