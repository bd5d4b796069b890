package server

import (
	"encoding/json"
	"net/http"

	"github.com/mobd-dev/mobd/flows"
	"github.com/mobd-dev/mobd/mob"
)

// FlowInfo describes one flow of a mob's definition.
type FlowInfo struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Steps       []string `json:"steps"`
}

// StartRunRequest is the body of POST /v1/mobs/{mob}/flows/{flow}/runs.
type StartRunRequest struct {
	// Params are the run's params (a JSON object; default {}).
	Params json.RawMessage `json:"params,omitempty"`
	// RunID is the run's id and idempotency key; empty means a fresh id.
	// A start with the id of a run the mob already has replays the start
	// of that run: with the same flow and the same params (as JSON values:
	// key order and spacing do not matter) it answers 200 with the
	// existing run instead of 201 with a new one; with another flow or
	// other params it is refused with 409 run_id_conflict. An id must be
	// valid UTF-8 of at most 256 bytes without control characters (400
	// invalid_request).
	RunID string `json:"run_id,omitempty"`
}

// RunSummary is a run in the list of a mob's runs.
type RunSummary struct {
	RunID     string        `json:"run_id"`
	FlowID    string        `json:"flow_id"`
	Status    mob.RunStatus `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	StartedAt string        `json:"started_at"`
	EndedAt   string        `json:"ended_at,omitempty"`
}

// DecisionRequest is the body of POST
// /v1/mobs/{mob}/runs/{run}/steps/{step}/decision.
type DecisionRequest struct {
	// Approved is required: true approves the step, false rejects it.
	Approved *bool `json:"approved"`
	// By names the approver; it must be one of the step's approvers when
	// it lists any.
	By string `json:"by,omitempty"`
	// Comment is free text.
	Comment string `json:"comment,omitempty"`
}

// CancelRequest is the body of POST /v1/mobs/{mob}/runs/{run}/cancel.
type CancelRequest struct {
	// Reason says why; default "canceled via API".
	Reason string `json:"reason,omitempty"`
}

func (s *Server) handleListFlows(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	def := m.Definition()
	out := []FlowInfo{}
	for _, id := range flowIDs(def) {
		f, _ := def.Flow(id)
		info := FlowInfo{ID: id, Description: f.Description, Steps: []string{}}
		for _, st := range f.Steps {
			info.Steps = append(info.Steps, st.ID)
		}
		out = append(out, info)
	}
	s.writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleStartRun(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req StartRunRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	flowID := r.PathValue("flow")
	if _, ok := m.Definition().Flow(flowID); !ok {
		s.writeError(w, r, apiErr(http.StatusNotFound, CodeFlowNotFound, "mob %q has no flow %q", m.ID(), flowID))
		return
	}
	var params any = map[string]any{}
	if len(req.Params) > 0 && string(req.Params) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(req.Params, &obj); err != nil {
			s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidRequest, "params must be a JSON object"))
			return
		}
		params = req.Params
	}
	run, started, err := m.StartFlow(r.Context(), flowID, params, mob.RunOptions{RunID: req.RunID})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !started { // an idempotent replay: the run of an earlier start
		status = http.StatusOK
	}
	s.writeJSON(w, status, run.Status())
}

func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := []RunSummary{}
	for _, run := range m.Runs() {
		st := run.Status()
		rs := RunSummary{RunID: st.RunID, FlowID: st.FlowID, Status: st.Status, Reason: st.Reason,
			StartedAt: st.StartedAt.Format(timeFormat)}
		if !st.EndedAt.IsZero() {
			rs.EndedAt = st.EndedAt.Format(timeFormat)
		}
		out = append(out, rs)
	}
	s.writeJSON(w, http.StatusOK, out)
}

// run returns the run named by the request's path.
func (s *Server) run(r *http.Request) (*mob.Run, error) {
	m, err := s.mob(r.PathValue("mob"))
	if err != nil {
		return nil, err
	}
	return m.Run(r.Context(), r.PathValue("run"))
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, run.Status())
}

func (s *Server) handleCancelRun(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req CancelRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Reason == "" {
		req.Reason = "canceled via API"
	}
	if err := run.Cancel(r.Context(), req.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, run.Status())
}

func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	run, err := s.run(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req DecisionRequest
	if err := s.decode(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Approved == nil {
		s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidRequest, "field \"approved\" is required"))
		return
	}
	d := flows.ApprovalDecision{Approved: *req.Approved, By: req.By, Comment: req.Comment}
	if err := run.Decide(r.Context(), r.PathValue("step"), d); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, run.Status())
}

const timeFormat = "2006-01-02T15:04:05.000Z07:00"
