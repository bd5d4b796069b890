package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
)

// eventBatch is how many journal records one read of a subscriber takes.
const eventBatch = 512

// eventFilter selects the events of a subscription.
type eventFilter struct {
	mob, member, run, session string
}

func (f eventFilter) match(ev *mob.Event) bool {
	if f.member != "" && ev.Member != f.member && ev.Peer != f.member {
		return false
	}
	if f.session != "" && ev.SessionID != f.session {
		return false
	}
	return true
}

// handleEvents streams journal events as SSE: the id of each event is its
// journal cursor, its name the event type, its data the mob.Event JSON.
// It starts after Last-Event-ID (or ?after=), so a reconnecting client
// misses nothing and sees nothing twice. ?follow=false ends the stream
// once the backlog is sent. The subscriber is this request's goroutine; it
// ends with the request's context or Drain.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := eventFilter{mob: q.Get("mob"), member: q.Get("member"), run: q.Get("run"), session: q.Get("session")}
	after, err := cursorOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	follow := true
	if v := q.Get("follow"); v != "" {
		if follow, err = strconv.ParseBool(v); err != nil {
			s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidRequest, "query parameter \"follow\" must be a boolean"))
			return
		}
	}
	select {
	case <-s.drain:
		s.writeError(w, r, apiErr(http.StatusServiceUnavailable, CodeUnavailable, "server is shutting down"))
		return
	default:
	}
	sse, err := startSSE(w)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.subscribers.Inc()
	defer s.metrics.subscribers.Dec()

	ctx := r.Context()
	j := s.cfg.Journal
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		wake := j.Notify() // before the read, so no commit is missed
		recs, err := j.Read(ctx, journal.Query{Mob: f.mob, Run: f.run, After: after, Limit: eventBatch})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("event stream read", zap.Error(err))
				body, _ := json.Marshal(errorBody{Error: toAPIError(err)})
				_ = sse.event("", "error", body)
			}
			return
		}
		for _, rec := range recs {
			after = rec.Seq
			var ev mob.Event
			if err := json.Unmarshal(rec.Data, &ev); err != nil {
				continue // not a mob event
			}
			ev.Cursor = rec.Seq
			if !f.match(&ev) {
				continue
			}
			data, _ := json.Marshal(&ev)
			if err := sse.event(strconv.FormatUint(rec.Seq, 10), ev.Type, data); err != nil {
				return
			}
		}
		if len(recs) == eventBatch {
			continue
		}
		if !follow {
			return
		}
		select {
		case <-wake:
		case <-heartbeat.C:
			if err := sse.comment("heartbeat"); err != nil {
				return
			}
		case <-ctx.Done():
			return
		case <-s.drain:
			return
		}
	}
}

// cursorOf returns the cursor a subscription starts after: the
// Last-Event-ID header, else the after query parameter, else 0.
func cursorOf(r *http.Request) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	name := "Last-Event-ID"
	if v == "" {
		v, name = r.URL.Query().Get("after"), "after"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, apiErr(http.StatusBadRequest, CodeInvalidRequest, "%s must be an event id (a journal cursor)", name)
	}
	return n, nil
}
