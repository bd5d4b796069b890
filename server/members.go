package server

import (
	"context"
	"net/http"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/mob"
)

// PeerRequest is the body of the wire and unwire routes.
type PeerRequest struct {
	// Peer is the member to wire to or unwire from.
	Peer string `json:"peer"`
}

// SendRequest is the body of POST /v1/mobs/{mob}/members/{member}/send.
type SendRequest struct {
	// Text is the message.
	Text string `json:"text"`
	// From is the sending member, "" for someone outside the mob.
	From string `json:"from,omitempty"`
}

// SendResponse is the member's answer to a message.
type SendResponse struct {
	Answer *actors.Answer `json:"answer"`
}

func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.status(r, m).MemberList)
}

func (s *Server) handleGetMember(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := m.MemberStatus(r.Context(), r.PathValue("member"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleSpawn(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var spec mob.SpawnSpec
	if err := s.decode(w, r, &spec); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := required("profile", spec.Profile); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, ok := m.Definition().Profiles[spec.Profile]; !ok {
		s.writeError(w, r, apiErr(http.StatusUnprocessableEntity, CodeUnknownProfile, "mob %q has no profile %q", m.ID(), spec.Profile))
		return
	}
	info, err := m.Spawn(r.Context(), spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, info)
}

func (s *Server) handleRetire(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := m.Retire(r.Context(), r.PathValue("member")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRespawn(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := m.Respawn(r.Context(), r.PathValue("member"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleWire(w http.ResponseWriter, r *http.Request)   { s.wiring(w, r, true) }
func (s *Server) handleUnwire(w http.ResponseWriter, r *http.Request) { s.wiring(w, r, false) }

func (s *Server) wiring(w http.ResponseWriter, r *http.Request, wire bool) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req PeerRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := required("peer", req.Peer); err != nil {
		s.writeError(w, r, err)
		return
	}
	a := r.PathValue("member")
	for _, id := range []string{a, req.Peer} {
		if _, err := m.MemberStatus(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if wire {
		err = m.Wire(r.Context(), a, req.Peer)
	} else {
		err = m.Unwire(r.Context(), a, req.Peer)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := m.MemberStatus(r.Context(), a)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req SendRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := required("text", req.Text); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.TurnTimeout)
	defer cancel()
	a, err := m.Send(ctx, req.From, r.PathValue("member"), req.Text)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.observeTurn("member", a.Usage)
	s.writeJSON(w, http.StatusOK, SendResponse{Answer: a})
}
