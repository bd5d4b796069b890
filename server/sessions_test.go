package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mobd-dev/mobd/rpc"
)

func TestSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{realm: true})
	var created TurnResponse
	json.Unmarshal([]byte(f.must(201, "POST", "/v1/sessions", "", `{"prompt":"My name is Ada"}`)), &created)
	if created.SessionID == "" || created.Runtime == "" {
		t.Fatalf("created %+v", created)
	}
	base := "/v1/sessions/" + created.SessionID
	var turn TurnResponse
	json.Unmarshal([]byte(f.must(200, "POST", base+"/turns", "", `{"prompt":"What is my name?"}`)), &turn)
	if !strings.Contains(turn.Text, "Ada") {
		t.Fatalf("turn %+v", turn)
	}
	// A streamed turn: agent events, then the result.
	ctx := testCtx(t)
	evs := f.streamTurn(ctx, base+"/turns/stream", `{"prompt":"count to 3"}`)
	if len(evs) < 3 || evs[len(evs)-1].name != "result" || !strings.Contains(evs[len(evs)-1].data, "1 2 3") {
		t.Fatalf("stream events %+v", evs)
	}
	names := map[string]bool{}
	for _, e := range evs {
		names[e.name] = true
	}
	if !names["text_delta"] {
		t.Fatalf("no text_delta in %+v", names)
	}
	var list []SessionStatus
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/sessions", "", "")), &list)
	if len(list) != 1 || list[0].ID != created.SessionID {
		t.Fatalf("sessions %+v", list)
	}
	var st SessionStatus
	json.Unmarshal([]byte(f.must(200, "GET", base, "", "")), &st)
	if st.ID != created.SessionID || len(st.Details) == 0 {
		t.Fatalf("session %+v", st)
	}
	var h HistoryResponse
	json.Unmarshal([]byte(f.must(200, "GET", base+"/history?limit=100", "", "")), &h)
	if h.MessageCount < 6 || len(h.Messages) == 0 {
		t.Fatalf("history %+v", h)
	}
	f.must(400, "GET", base+"/history?offset=-1", "", "")
	// The runtime's refusals: a prompt it cannot take is the request's
	// fault, a provider's failure the upstream's.
	for _, c := range []struct {
		prompt string
		status int
		code   string
	}{
		{"[[sim:error nonsense]] hi", 400, CodeInvalidRequest},
		{"[[sim:error -32010]] hi", 502, CodeTurnFailed},
	} {
		status, body := f.do("POST", base+"/turns", "", `{"prompt":`+strconv.Quote(c.prompt)+`}`)
		if code, _ := errCode(t, body); status != c.status || code != c.code {
			t.Errorf("turn %q: %d %s; want %d %s", c.prompt, status, body, c.status, c.code)
		}
	}
	f.must(204, "POST", base+"/archive", "", "")

	// A session of the realm the engine does not run: a turn and a read
	// attach it for the request, and its actor stops afterwards.
	ref, err := f.engine.CreateSession(ctx, rpc.Text("hello"), rpc.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := ref.ID()
	ref.Release()
	<-ref.Stopped()
	json.Unmarshal([]byte(f.must(200, "POST", "/v1/sessions/"+id+"/turns", "", `{"prompt":"echo: back"}`)), &turn)
	if turn.Text != "back" {
		t.Fatalf("turn on a session the engine did not run: %+v", turn)
	}
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/sessions/"+id, "", "")), &st)
	if st.ID != id || !st.Attached {
		t.Fatalf("status of a session the engine did not run: %+v", st)
	}
	if held := f.engine.Sessions()[id]; held != nil {
		select {
		case <-held.Stopped():
		case <-ctx.Done():
			t.Fatal("the actor attached for a request did not stop after it")
		}
	}
}

// streamTurn posts a streamed turn and reads its events to the end.
func (f *fixture) streamTurn(ctx context.Context, path, body string) []sseEvent {
	f.t.Helper()
	return f.postSSE(ctx, path, body)
}

// A session created through the API does not keep an actor running once
// the request is answered: it stays in the realm, where the list finds
// it, and a later turn attaches an actor again.
func TestCreatedSessionsAreReleased(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{realm: true})
	var ids []string
	for i := range 3 {
		var created TurnResponse
		json.Unmarshal([]byte(f.must(201, "POST", "/v1/sessions", "", fmt.Sprintf(`{"prompt":"echo: session %d"}`, i))), &created)
		ids = append(ids, created.SessionID)
	}
	for deadline := time.Now().Add(10 * time.Second); len(f.engine.Sessions()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine still runs %d actors for sessions nobody uses", len(f.engine.Sessions()))
		}
	}
	var list []SessionStatus
	json.Unmarshal([]byte(f.must(200, "GET", "/v1/sessions", "", "")), &list)
	if len(list) != 3 {
		t.Fatalf("sessions %+v, want the 3 created", list)
	}
	for _, st := range list {
		if !slices.Contains(ids, st.ID) || st.MessageCount == 0 || st.Runtime != "" {
			t.Errorf("listed %+v", st)
		}
	}
	var turn TurnResponse
	json.Unmarshal([]byte(f.must(200, "POST", "/v1/sessions/"+ids[0]+"/turns", "", `{"prompt":"echo: again"}`)), &turn)
	if !strings.Contains(turn.Text, "again") {
		t.Fatalf("turn on a released session %+v", turn)
	}
}

// TestMemberSessionsAreTheMobs checks that the sessions API refuses a
// turn (plain or streamed) on, and the archive of, the session of a live
// mob member with a 409 member_session naming the mob and the member,
// even when the mob is stopped, and still serves reads of it; once the
// member is retired, its session is a plain session again.
func TestMemberSessionsAreTheMobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{realm: true})
	f.withMob()
	sessionOf := func(member string) string {
		var info struct {
			SessionID string `json:"session_id"`
		}
		json.Unmarshal([]byte(f.must(200, "GET", "/v1/mobs/research/members/"+member, "", "")), &info)
		if info.SessionID == "" {
			t.Fatalf("member %s has no session", member)
		}
		return info.SessionID
	}
	lead, analyst := sessionOf("lead"), sessionOf("analyst")
	refused := func(when string, turns bool) {
		t.Helper()
		cases := []struct{ path, body, why string }{{"/v1/sessions/" + lead + "/archive", "", "mob's API"}}
		if turns {
			cases = append(cases,
				struct{ path, body, why string }{"/v1/sessions/" + lead + "/turns", `{"prompt":"echo: around the mob"}`, "run no turns"},
				struct{ path, body, why string }{"/v1/sessions/" + lead + "/turns/stream", `{"prompt":"echo: around the mob"}`, "run no turns"})
		}
		for _, c := range cases {
			status, body := f.do("POST", c.path, "", c.body)
			code, _ := errCode(t, body)
			if status != 409 || code != CodeMemberSession || !strings.Contains(body, `\"lead\"`) || !strings.Contains(body, `\"research\"`) ||
				!strings.Contains(body, c.why) {
				t.Errorf("%s: POST %s: %d %s, want 409 %s naming lead and research", when, c.path, status, body, CodeMemberSession)
			}
		}
		// Reads are allowed.
		var st SessionStatus
		json.Unmarshal([]byte(f.must(200, "GET", "/v1/sessions/"+lead, "", "")), &st)
		if st.ID != lead {
			t.Errorf("%s: session %+v", when, st)
		}
		f.must(200, "GET", "/v1/sessions/"+lead+"/history", "", "")
		if list := f.must(200, "GET", "/v1/sessions", "", ""); !strings.Contains(list, lead) {
			t.Errorf("%s: the list lacks the member's session: %s", when, list)
		}
	}
	// A running mob's member takes a turn on its session (the console
	// talks to members so), but its session is not archived.
	refused("running mob", false)
	f.must(200, "POST", "/v1/sessions/"+lead+"/turns", "", `{"prompt":"echo: through the session"}`)
	f.must(200, "POST", "/v1/mobs/research/lifecycle", "", `{"action":"stop"}`)
	refused("stopped mob", true)
	f.must(200, "POST", "/v1/mobs/research/lifecycle", "", `{"action":"resume"}`)
	// The member was not touched: it answers through the mob.
	f.must(200, "POST", "/v1/mobs/research/members/lead/send", "", `{"text":"echo: still here"}`)

	// A retired member's session is a plain session.
	f.must(204, "DELETE", "/v1/mobs/research/members/analyst", "", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, body := f.do("POST", "/v1/sessions/"+analyst+"/turns", "", `{"prompt":"echo: free"}`)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("turn on a retired member's session: %d %s", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.must(204, "POST", "/v1/sessions/"+analyst+"/archive", "", "")
}
