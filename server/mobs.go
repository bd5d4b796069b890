package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
)

// MobSummary is a mob in the list of mobs.
type MobSummary struct {
	ID         string    `json:"id"`
	State      mob.State `json:"state"`
	Members    int       `json:"members"`
	Flows      []string  `json:"flows"`
	ActiveRuns int       `json:"active_runs"`
	Runs       int       `json:"runs"`
}

// MobStatus is a mob's status.
type MobStatus struct {
	MobSummary
	MemberList []mob.MemberInfo `json:"member_list"`
	Definition json.RawMessage  `json:"definition"`
}

// LifecycleRequest is the body of POST /v1/mobs/{mob}/lifecycle.
type LifecycleRequest struct {
	// Action is "stop", "resume" or "complete".
	Action string `json:"action"`
}

// definitionFormat picks the definition's format from the Content-Type:
// TOML for application/toml or text/toml (or x- variants), JSON for
// application/json or none.
func definitionFormat(ct string) (flows.Format, error) {
	if ct == "" {
		return flows.FormatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, apiErr(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "content type %q: %v", ct, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return flows.FormatJSON, nil
	case strings.HasSuffix(mt, "/toml") || strings.HasSuffix(mt, "/x-toml"):
		return flows.FormatTOML, nil
	}
	return 0, apiErr(http.StatusUnsupportedMediaType, CodeUnsupportedMedia, "content type %q: expected application/json or application/toml", ct)
}

func (s *Server) handleCreateMob(w http.ResponseWriter, r *http.Request) {
	format, err := definitionFormat(r.Header.Get("Content-Type"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if format == flows.FormatJSON && !json.Valid(bytes.TrimSpace(data)) {
		s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidJSON, "definition is not valid JSON"))
		return
	}
	def, err := flows.Load(data, format, flows.LoadOptions{})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.CreateMob(r.Context(), def)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, s.status(r, m))
}

func (s *Server) handleListMobs(w http.ResponseWriter, r *http.Request) {
	out := []MobSummary{}
	for _, m := range s.allMobs() {
		out = append(out, summary(m))
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetMob(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.status(r, m))
}

func (s *Server) handleDestroyMob(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := m.Destroy(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.mu.Lock()
	if s.mobs[m.ID()] == m {
		delete(s.mobs, m.ID())
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleLifecycle(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req LifecycleRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch req.Action {
	case "stop":
		err = m.Stop(r.Context())
	case "resume":
		err = m.Resume(r.Context())
	case "complete":
		err = m.Complete(r.Context())
	default:
		err = apiErr(http.StatusBadRequest, CodeInvalidRequest, "action %q: expected stop, resume or complete", req.Action)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.status(r, m))
}

func summary(m *mob.Mob) MobSummary {
	out := MobSummary{ID: m.ID(), State: m.State(), Members: len(m.Members()), Flows: flowIDs(m.Definition())}
	for _, run := range m.Runs() {
		out.Runs++
		if !run.Status().Status.Terminal() {
			out.ActiveRuns++
		}
	}
	return out
}

func (s *Server) status(r *http.Request, m *mob.Mob) MobStatus {
	st := MobStatus{MobSummary: summary(m), MemberList: []mob.MemberInfo{}}
	for _, id := range m.Members() {
		info, err := m.MemberStatus(r.Context(), id)
		if errors.Is(err, mob.ErrMemberNotFound) {
			continue
		}
		if err != nil {
			info = mob.MemberInfo{Identity: id, Status: "broken"}
		}
		st.MemberList = append(st.MemberList, info)
	}
	st.Definition, _ = json.Marshal(m.Definition())
	return st
}

// CreateMob creates a mob of a validated definition (see mob.Create) with
// the server's mob configuration and serves it. It fails with an error
// matching mob.ErrMobExists when the journal already holds the id.
func (s *Server) CreateMob(ctx context.Context, def *flows.Definition) (*mob.Mob, error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if _, err := s.mob(def.ID); err == nil {
		return nil, fmt.Errorf("%w: %q", mob.ErrMobExists, def.ID)
	}
	m, err := mob.Create(ctx, def, s.cfg.Mob)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.mobs[m.ID()] = m
	s.mu.Unlock()
	s.log.Info("mob created", zap.String("mob", m.ID()))
	return m, nil
}

func flowIDs(def *flows.Definition) []string {
	ids := slices.Sorted(maps.Keys(def.Flows))
	if ids == nil {
		ids = []string{}
	}
	return ids
}
