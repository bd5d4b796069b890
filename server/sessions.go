package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
)

// CreateSessionRequest is the body of POST /v1/sessions.
type CreateSessionRequest struct {
	// Prompt is the session's first turn (required).
	Prompt       string            `json:"prompt"`
	Model        string            `json:"model,omitempty"`
	Provider     string            `json:"provider,omitempty"`
	SystemPrompt string            `json:"system_prompt,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// TurnRequest is the body of the turn routes.
type TurnRequest struct {
	// Prompt is the turn's text (required).
	Prompt string `json:"prompt"`
}

// TurnResponse is a turn's outcome.
type TurnResponse struct {
	SessionID        string          `json:"session_id"`
	Runtime          string          `json:"runtime"`
	Text             string          `json:"text"`
	Usage            rpc.Usage       `json:"usage"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	Recovered        bool            `json:"recovered,omitempty"`
	Attempts         int             `json:"attempts"`
}

// SessionStatus is a session's status: the state of the actor that runs
// it, if one does (Runtime is empty otherwise), and what the realm knows
// of it.
type SessionStatus struct {
	ID         string `json:"session_id"`
	Runtime    string `json:"runtime"`
	Generation uint64 `json:"generation"`
	Attached   bool   `json:"attached"`
	Queued     int    `json:"queued"`
	Running    bool   `json:"running"`
	Err        string `json:"error,omitempty"`
	// Labels and MessageCount are the realm's, in a list of sessions
	// (with a Realm).
	Labels       map[string]string `json:"labels,omitempty"`
	MessageCount uint64            `json:"message_count,omitempty"`
	// Details are the realm's record of the session, when a Realm is
	// configured.
	Details json.RawMessage `json:"details,omitempty"`
}

// HistoryResponse is a page of a session's history.
type HistoryResponse struct {
	SessionID    string            `json:"session_id"`
	MessageCount uint64            `json:"message_count"`
	Offset       uint64            `json:"offset"`
	HasMore      bool              `json:"has_more"`
	Messages     []json.RawMessage `json:"messages"`
}

func turnResponse(id string, res *actors.TurnResult) TurnResponse {
	return TurnResponse{SessionID: id, Runtime: res.Runtime, Text: res.Text, Usage: res.Usage,
		StructuredOutput: res.StructuredOutput, Recovered: res.Recovered, Attempts: res.Attempts}
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var req CreateSessionRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := required("prompt", req.Prompt); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.TurnTimeout)
	defer cancel()
	ref, err := s.cfg.Engine.CreateSession(ctx, rpc.Text(req.Prompt), rpc.SessionOptions{
		Model: req.Model, Provider: req.Provider, SystemPrompt: req.SystemPrompt, Labels: req.Labels})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The session stays in the realm; its actor stops when nothing else
	// holds it, and a later request attaches one again (see session).
	defer ref.Release()
	res := ref.Created()
	if res == nil {
		res = &actors.TurnResult{Runtime: ref.Runtime()}
	}
	s.metrics.observeTurn("session", res.Usage)
	s.writeJSON(w, http.StatusCreated, turnResponse(ref.ID(), res))
}

// session returns the session actor named by the request's path,
// attaching one to a session of the realm the engine does not run yet. The
// caller holds it until it calls Release, at the end of the request: an
// actor that nothing else holds (a retired member's session, one only
// looked at through the API) then stops.
func (s *Server) session(r *http.Request) (*actors.SessionRef, error) {
	id := r.PathValue("session")
	ref, err := s.cfg.Engine.Session(r.Context(), id)
	// A session actor that learns its session does not exist stops itself,
	// and may do so before the engine's wait for its attachment reaches it:
	// the wait then ends as a dead letter, reported as ErrEngineStopped
	// although the engine runs. Ask again (a stopped engine refuses at
	// once): the new actor's answer is the real one.
	for try := 0; try < 3 && errors.Is(err, actors.ErrEngineStopped) && r.Context().Err() == nil; try++ {
		ref, err = s.cfg.Engine.Session(r.Context(), id)
	}
	if err != nil {
		if errors.Is(err, actors.ErrSessionNotFound) || errors.Is(err, rpc.ErrInvalidParams) {
			return nil, apiErr(http.StatusNotFound, CodeSessionNotFound, "session %q not found", id)
		}
		return nil, err
	}
	return ref, nil
}

// handleListSessions lists the realm's sessions (with a Realm; else the
// sessions the engine runs), each with its actor's state when one runs it.
func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) {
	live := s.cfg.Engine.Sessions()
	byID := make(map[string]SessionStatus, len(live))
	for id, ref := range live {
		byID[id] = s.sessionStatus(r.Context(), ref, false)
	}
	if s.cfg.Realm != nil {
		infos, err := s.cfg.Realm.List(r.Context())
		if err != nil {
			s.writeError(w, r, fmt.Errorf("list the realm's sessions: %w", err))
			return
		}
		for _, in := range infos {
			st, ok := byID[in.SessionID]
			if !ok {
				st = SessionStatus{ID: in.SessionID}
			}
			st.Labels, st.MessageCount = in.Labels, in.MessageCount
			byID[in.SessionID] = st
		}
	}
	out := make([]SessionStatus, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) sessionStatus(ctx context.Context, ref *actors.SessionRef, details bool) SessionStatus {
	st := SessionStatus{ID: ref.ID(), Runtime: ref.Runtime()}
	if info, err := ref.Info(ctx); err == nil {
		st.Generation, st.Attached, st.Queued, st.Running, st.Err = info.Generation, info.Attached, info.Queued, info.Running, info.Err
	} else {
		st.Err = err.Error()
	}
	if details && s.cfg.Realm != nil {
		if d, err := s.cfg.Realm.ReadSession(ctx, ref.ID()); err == nil {
			st.Details = d.Raw
		}
	}
	return st
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	// A running actor reports its state as it is, even while its runtime
	// restarts; only a session without one is attached (and held) for the
	// request.
	if ref := s.cfg.Engine.Sessions()[r.PathValue("session")]; ref != nil {
		s.writeJSON(w, http.StatusOK, s.sessionStatus(r.Context(), ref, true))
		return
	}
	ref, err := s.session(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer ref.Release()
	s.writeJSON(w, http.StatusOK, s.sessionStatus(r.Context(), ref, true))
}

// memberSession refuses, with a 409 member_session, a change to a session
// that is a live mob member's when it would go behind the mob's back: an
// archive, which would break the member, and a turn while the member's
// mob is not running (stopped or completed, its members take no work). A
// turn on the session of a running mob's member is allowed: the console
// talks to a member through its session. Reads stay allowed. The engine's
// members are the live ones, each named "<mob>/<identity>" (an identity
// has no '/').
func (s *Server) memberSession(r *http.Request, turn bool) error {
	id := r.PathValue("session")
	e := s.cfg.Engine
	for _, qualified := range e.Members() {
		m := e.Member(qualified)
		if m == nil || m.Session() == nil || m.Session().ID() != id {
			continue
		}
		what := "archiving"
		if turn {
			what = "running a turn on"
		}
		i := strings.LastIndexByte(qualified, '/')
		if i < 0 {
			return apiErr(http.StatusConflict, CodeMemberSession,
				"session %q is the session of member %q: %s it through its member, not the sessions API", id, qualified, what)
		}
		mobID, identity := qualified[:i], qualified[i+1:]
		if turn {
			mb, err := s.mob(mobID)
			if err == nil && mb.State() == mob.StateRunning {
				return nil
			}
			if err == nil {
				return apiErr(http.StatusConflict, CodeMemberSession,
					"session %q is the session of member %q of mob %q, which is %s: its members run no turns", id, identity, mobID, mb.State())
			}
		}
		return apiErr(http.StatusConflict, CodeMemberSession,
			"session %q is the session of member %q of mob %q: use the mob's API (%s) rather than %s its session",
			id, identity, mobID, "/v1/mobs/"+url.PathEscape(mobID)+"/members/"+url.PathEscape(identity), what)
	}
	return nil
}

// turnRequest decodes a turn request and holds the session it names (see
// session): the caller releases it. A live member's session is refused
// while its mob is not running (see memberSession).
func (s *Server) turnRequest(w http.ResponseWriter, r *http.Request) (*actors.SessionRef, TurnRequest, error) {
	var req TurnRequest
	if err := s.decode(w, r, &req); err != nil {
		return nil, req, err
	}
	if err := required("prompt", req.Prompt); err != nil {
		return nil, req, err
	}
	if err := s.memberSession(r, true); err != nil {
		return nil, req, err
	}
	ref, err := s.session(r)
	return ref, req, err
}

func (s *Server) handleTurn(w http.ResponseWriter, r *http.Request) {
	ref, req, err := s.turnRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer ref.Release()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.TurnTimeout)
	defer cancel()
	res, err := ref.Turn(ctx, rpc.Text(req.Prompt), rpc.TurnOptions{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.observeTurn("session", res.Usage)
	s.writeJSON(w, http.StatusOK, turnResponse(ref.ID(), res))
}

// handleStreamTurn runs a turn and streams its events as SSE: one event
// per agent event (the SSE event name is the event's type, the data its
// payload), then "result" with the TurnResponse or "error" with the typed
// error.
func (s *Server) handleStreamTurn(w http.ResponseWriter, r *http.Request) {
	ref, req, err := s.turnRequest(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer ref.Release()
	sse, err := startSSE(w)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.TurnTimeout)
	defer cancel()
	st := ref.Stream(ctx, rpc.Text(req.Prompt), rpc.TurnOptions{})
	defer st.Close()
	n := 0
	for st.Next() {
		env := st.Envelope()
		payload := env.Payload
		if len(payload) == 0 {
			payload, _ = json.Marshal(env.Event)
		}
		n++
		if err := sse.event(strconv.Itoa(n), env.Event.EventType(), payload); err != nil {
			return
		}
	}
	res, err := st.Result()
	if err != nil {
		body, _ := json.Marshal(errorBody{Error: toAPIError(err)})
		_ = sse.event("", "error", body)
		return
	}
	s.metrics.observeTurn("session", res.Usage)
	body, _ := json.Marshal(turnResponse(ref.ID(), res))
	_ = sse.event("", "result", body)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Realm == nil {
		s.writeError(w, r, apiErr(http.StatusNotImplemented, CodeNotImplemented, "session history needs a realm client"))
		return
	}
	offset, err1 := queryInt(r, "offset")
	limit, err2 := queryInt(r, "limit")
	if err := errors.Join(err1, err2); err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.cfg.Realm.History(r.Context(), r.PathValue("session"), offset, limit)
	if err != nil {
		s.writeError(w, r, notFoundSession(r, err))
		return
	}
	out := HistoryResponse{SessionID: h.SessionID, MessageCount: h.MessageCount, Offset: h.Offset, HasMore: h.HasMore,
		Messages: []json.RawMessage{}}
	for _, m := range h.Messages {
		out.Messages = append(out.Messages, m.Raw)
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleArchive(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Realm == nil {
		s.writeError(w, r, apiErr(http.StatusNotImplemented, CodeNotImplemented, "session archive needs a realm client"))
		return
	}
	if err := s.memberSession(r, false); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Realm.Archive(r.Context(), r.PathValue("session")); err != nil {
		s.writeError(w, r, notFoundSession(r, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func notFoundSession(r *http.Request, err error) error {
	if errors.Is(err, rpc.ErrSessionNotFound) || errors.Is(err, rpc.ErrInvalidParams) {
		return apiErr(http.StatusNotFound, CodeSessionNotFound, "session %q not found", r.PathValue("session"))
	}
	return err
}

// queryInt parses a non-negative integer query parameter (0 when absent).
func queryInt(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apiErr(http.StatusBadRequest, CodeInvalidRequest, "query parameter %q must be a non-negative integer", name)
	}
	return n, nil
}
