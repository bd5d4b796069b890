package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
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

func (f eventFilter) match(ev *encodedEvent) bool {
	if f.member != "" && ev.member != f.member && ev.peer != f.member {
		return false
	}
	if f.session != "" && ev.session != f.session {
		return false
	}
	return true
}

// encodedEvent is a journal record as the event streams send it: the
// fields the filters read, the SSE event name, and the data (the mob.Event
// JSON with its cursor). ok is false for a record that is not a mob event.
type encodedEvent struct {
	ok                    bool
	member, peer, session string
	name                  string
	data                  []byte
}

// encodeRecord decodes a journal record as a mob.Event (with its cursor)
// and encodes it again.
func encodeRecord(rec journal.Record) *encodedEvent {
	ev, err := mob.DecodeEvent(rec)
	if err != nil {
		return &encodedEvent{}
	}
	data, err := ev.AppendJSON(nil)
	if err != nil {
		return &encodedEvent{}
	}
	return &encodedEvent{ok: true, member: ev.Member, peer: ev.Peer, session: ev.SessionID, name: ev.Type, data: data}
}

// eventCacheSize is the number of recently sent records whose encoding the
// event streams share.
const eventCacheSize = 4096

// eventCache shares the encoding of recent journal records among the event
// streams. Live subscribers all read the same new records at the same
// moment (a commit wakes them all), and decoding and encoding each record
// once per subscriber was most of the daemon's CPU under load (200
// subscribers). It is direct-mapped on Seq: a slot holds the newest record
// that mapped to it, encoded once by whichever stream got there first while
// the others wait for that encoding. A stream far behind, whose record's
// slot already holds a newer one, encodes its record itself. Records never
// change, so an entry is never stale.
type eventCache struct {
	mu    sync.Mutex
	slots [eventCacheSize]*cachedEvent
}

// cachedEvent is a slot's record, encoded once.
type cachedEvent struct {
	seq  uint64
	once sync.Once
	ev   *encodedEvent
}

// encode returns the encoding of rec, shared with the other streams.
func (c *eventCache) encode(rec journal.Record) *encodedEvent {
	slot := &c.slots[rec.Seq%eventCacheSize]
	c.mu.Lock()
	e := *slot
	switch {
	case e == nil || e.seq < rec.Seq:
		e = &cachedEvent{seq: rec.Seq}
		*slot = e
	case e.seq > rec.Seq:
		e = nil // the slot serves newer records: do not evict them
	}
	c.mu.Unlock()
	if e == nil {
		return encodeRecord(rec)
	}
	e.once.Do(func() { e.ev = encodeRecord(rec) })
	return e.ev
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
	if f.run != "" && f.mob == "" {
		// A run id is unique within its mob only: alone, it could name
		// runs of several mobs, whose events would be mixed.
		s.writeError(w, r, apiErr(http.StatusBadRequest, CodeInvalidRequest, "query parameter \"run\" needs \"mob\": a run id names a run within its mob"))
		return
	}
	after, err := cursorOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if last := s.cfg.Journal.LastSeq(); after > last {
		// Not this journal's cursor (a state directory reset, another
		// daemon): following it would skip every event up to it.
		s.writeError(w, r, apiErr(http.StatusConflict, CodeCursorAhead,
			"cursor %d is ahead of the journal, whose last event is %d: it is another journal's; start again without it", after, last))
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
	if r.Method == http.MethodHead {
		return // the headers are the answer; a body would go nowhere, forever
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
		wrote := false
		for _, rec := range recs {
			after = rec.Seq
			ev := s.events.encode(rec)
			if !ev.ok || !f.match(ev) {
				continue // not a mob event, or filtered out
			}
			if err := sse.write(strconv.FormatUint(rec.Seq, 10), ev.name, ev.data); err != nil {
				return
			}
			wrote = true
		}
		// One flush per batch, not per event: the client gets the batch at
		// once, in far fewer writes.
		if wrote {
			if err := sse.flush(); err != nil {
				return
			}
		}
		if len(recs) == eventBatch {
			select {
			case <-s.drain: // however much there is left to send
				return
			default:
			}
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
