package mob_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// plainEvent is mob.Event without its methods: encoding/json encodes it
// by reflection, the reference AppendJSON must match byte for byte.
type plainEvent mob.Event

// checkEventJSON compares AppendJSON and MarshalJSON with encoding/json's
// reflection encoding of ev.
func checkEventJSON(t *testing.T, ev mob.Event) {
	t.Helper()
	want, wantErr := json.Marshal((*plainEvent)(&ev))
	got, err := ev.AppendJSON([]byte("prefix"))
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("AppendJSON error = %v, encoding/json error = %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(got, append([]byte("prefix"), want...)) {
		t.Fatalf("AppendJSON:\n got %s\nwant prefix%s", got, want)
	}
	viaMarshal, err := json.Marshal(ev)
	if err != nil || !bytes.Equal(viaMarshal, want) {
		t.Fatalf("json.Marshal(Event) = %s, %v; want %s", viaMarshal, err, want)
	}
	var back mob.Event
	if err := json.Unmarshal(got[len("prefix"):], &back); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
}

func TestEventAppendJSON(t *testing.T) {
	five := uint64(5)
	at := time.Date(2026, 11, 26, 0, 36, 42, 299000000, time.UTC)
	tests := []struct {
		name string
		ev   mob.Event
	}{
		{"type only", mob.Event{Type: mob.EventFlowStarted}},
		{"dispatch", mob.Event{Cursor: 42, Mob: "bench", Type: mob.EventStepDispatched, At: at, Run: "r-1", Flow: "chain",
			Step: "s3", Member: "worker", Attempt: 1, Key: "r-1/|s3/worker/1", SessionID: "01a21548-8a1d-7a9b-a45a-ad948cd91230"}},
		{"target completed", mob.Event{Type: mob.EventStepTargetCompleted, At: at.In(time.FixedZone("x", 3600)),
			Output: json.RawMessage(`"You said: the quick brown fox"`),
			Usage:  &rpc.Usage{InputTokens: 10, OutputTokens: 12, TotalTokens: 22, CacheReadTokens: &five}}},
		{"zero usage", mob.Event{Type: "x", Usage: &rpc.Usage{}}},
		{"loop", mob.Event{Type: "x", Frame: "loop#2/inner#0", Loop: "inner", Iteration: 3, DelayMS: -7}},
		{"raw not compact", mob.Event{Type: "x", Output: json.RawMessage(" {\"a\" : [1, 2,\n3]} "), Params: json.RawMessage(`{"q":"<b>&</b>"}`)}},
		{"raw unicode", mob.Event{Type: "x", Spec: json.RawMessage(`{"s":"é\u2028"}`), Definition: json.RawMessage(`"\u00e9"`)}},
		{"raw invalid", mob.Event{Type: "x", Output: json.RawMessage(`{"a":`)}},
		{"strings to escape", mob.Event{Type: "a\"b\\c", Error: "line\nnext\ttab <html> & \x01 é \u2028 \xff", Text: "plain"}},
		{"decision", mob.Event{Type: mob.EventApprovalDecided, Decision: &flows.ApprovalDecision{Approved: true, By: "ops", Comment: "fine <ok>"}}},
		{"empty decision", mob.Event{Type: "x", Decision: &flows.ApprovalDecision{}}},
		{"time out of range", mob.Event{Type: "x", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"time before year 0", mob.Event{Type: "x", At: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkEventJSON(t, tt.ev) })
	}
}

func FuzzEventAppendJSON(f *testing.F) {
	f.Add("step_dispatched", "r-1", "worker", "k/1", "text", []byte(`"out"`), int64(1764117402299000000), 3, true, false)
	f.Add("x\"<", "é", "\u2028", "\x00", "", []byte(` {"a": [1,2]} `), int64(0), -1, false, true)
	f.Add("", "", "", "", "", []byte(`{"a":`), int64(-62135596800000000), 0, true, true)
	f.Fuzz(func(t *testing.T, typ, run, member, key, text string, raw []byte, nanos int64, n int, usage, decision bool) {
		ev := mob.Event{Type: typ, Run: run, Member: member, Key: key, Text: text, Output: raw,
			Attempt: n, Iteration: -n, DelayMS: int64(n) * 1000, Cursor: uint64(nanos)}
		if nanos != 0 {
			ev.At = time.Unix(0, nanos).UTC()
		}
		if usage {
			ev.Usage = &rpc.Usage{InputTokens: uint64(n), TotalTokens: uint64(nanos)}
		}
		if decision {
			ev.Decision = &flows.ApprovalDecision{Approved: n%2 == 0, By: member, Comment: text}
		}
		checkEventJSON(t, ev)
	})
}

// TestDecodeEventEnvelope checks that DecodeEvent takes an event's cursor,
// mob, type, run and time from the journal record's columns: a mob journals
// its events without them, and a record of an earlier version, whose data
// repeats them, decodes to the same event.
func TestDecodeEventEnvelope(t *testing.T) {
	at := time.Date(2026, 11, 26, 6, 3, 35, 366501982, time.UTC)
	want := mob.Event{Cursor: 7, Mob: "bench", Type: mob.EventStepDispatched, At: at, Run: "r-1", Flow: "chain",
		Step: "s1", Member: "worker", Attempt: 1, Key: "r-1/|s1/worker/1"}
	full, err := want.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"payload": `{"flow_id":"chain","step_id":"s1","member":"worker","attempt":1,"key":"r-1/|s1/worker/1"}`,
		"earlier": string(full),
	} {
		got, err := mob.DecodeEvent(journal.Record{Seq: 7, Mob: "bench", Run: "r-1", Kind: mob.EventStepDispatched, At: at, Data: json.RawMessage(data)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DecodeEvent = %+v, want %+v", name, got, want)
		}
	}
	if _, err := mob.DecodeEvent(journal.Record{Seq: 8, Mob: "bench", Kind: "x", Data: json.RawMessage(`{"flow_id":`)}); err == nil {
		t.Error("DecodeEvent accepted invalid data")
	}
}
