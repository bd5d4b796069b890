package sim

import (
	"sync"
)

// streamHub tracks standalone event subscriptions (session/stream_open and
// mob/stream_open).
type streamHub struct {
	mu        sync.RWMutex
	sessions  map[string]*eventStream   // by stream id
	bySession map[string][]*eventStream // copy-on-write slices
	mobs      map[string]*eventStream
	byMob     map[string][]*eventStream
	closed    map[string]bool // ids of streams that ended
}

// eventStream is one subscription.
type eventStream struct {
	id        string
	sessionID string // session streams
	mobID     string // mob streams
	identity  string // per-member mob streams ("" = mob-wide)

	mu      sync.Mutex
	seq     uint64
	ended   bool
	scratch []byte
}

func newStreamHub() *streamHub {
	return &streamHub{
		sessions: map[string]*eventStream{}, bySession: map[string][]*eventStream{},
		mobs: map[string]*eventStream{}, byMob: map[string][]*eventStream{},
		closed: map[string]bool{},
	}
}

func without(list []*eventStream, st *eventStream) []*eventStream {
	out := make([]*eventStream, 0, len(list))
	for _, x := range list {
		if x != st {
			out = append(out, x)
		}
	}
	return out
}

// observedSession reports whether any session stream watches sessionID.
func (h *streamHub) observedSession(sessionID string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.bySession[sessionID]) > 0
}

// deliver forwards an event envelope of sess to every stream observing it.
func (h *streamHub) deliver(s *server, sess *session, env []byte, opt emitOpt) {
	h.mu.RLock()
	ss := h.bySession[sess.id]
	var ms []*eventStream
	if sess.mobID != "" {
		ms = h.byMob[sess.mobID]
	}
	h.mu.RUnlock()
	for _, st := range ss {
		st.mu.Lock()
		if !st.ended {
			st.seq++
			b := append(st.scratch[:0], `{"jsonrpc":"2.0","method":"session/stream_event","params":{"stream_id":"`...)
			b = append(b, st.id...)
			b = append(b, `","sequence":`...)
			b = appendUint(b, st.seq)
			b = append(b, `,"session_id":`...)
			b = appendJSONString(b, sess.id)
			b = append(b, `,"event":`...)
			b = append(b, env...)
			b = append(b, "}}"...)
			st.scratch = b
			s.out.write(kindNotification, "session/stream_event", b, opt.injected, false)
		}
		st.mu.Unlock()
	}
	for _, st := range ms {
		if st.identity != "" && st.identity != sess.identity {
			continue
		}
		st.mu.Lock()
		if !st.ended {
			st.seq++
			b := append(st.scratch[:0], `{"jsonrpc":"2.0","method":"mob/stream_event","params":{"stream_id":"`...)
			b = append(b, st.id...)
			b = append(b, `","sequence":`...)
			b = appendUint(b, st.seq)
			b = append(b, `,"event":`...)
			if st.identity == "" {
				b = append(b, `{"source":{"identity":`...)
				b = appendJSONString(b, sess.identity)
				b = append(b, `,"generation":`...)
				b = appendUint(b, sess.generation)
				b = append(b, `},"role":`...)
				b = appendJSONString(b, sess.role)
				b = append(b, `,"envelope":`...)
				b = append(b, env...)
				b = append(b, `,"source_fence_token":null}`...)
			} else {
				b = append(b, env...)
			}
			b = append(b, "}}"...)
			st.scratch = b
			s.out.write(kindNotification, "mob/stream_event", b, opt.injected, false)
		}
		st.mu.Unlock()
	}
}

// end marks st ended and writes its terminal notification.
func (h *streamHub) end(s *server, st *eventStream, outcome string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return
	}
	st.ended = true
	if st.sessionID != "" {
		s.notify("session/stream_end", mustMarshal(struct {
			StreamID  string `json:"stream_id"`
			SessionID string `json:"session_id"`
			Ended     bool   `json:"ended"`
			Outcome   string `json:"outcome"`
		}{st.id, st.sessionID, true, outcome}))
		return
	}
	s.notify("mob/stream_end", mustMarshal(struct {
		StreamID string `json:"stream_id"`
		Ended    bool   `json:"ended"`
		Outcome  string `json:"outcome"`
	}{st.id, true, outcome}))
}

// endSession ends every stream of a session (e.g. on archive).
func (h *streamHub) endSession(s *server, sessionID, outcome string) {
	h.mu.Lock()
	list := h.bySession[sessionID]
	delete(h.bySession, sessionID)
	for _, st := range list {
		delete(h.sessions, st.id)
		h.closed[st.id] = true
	}
	h.mu.Unlock()
	for _, st := range list {
		h.end(s, st, outcome)
	}
}

// endMob ends the mob streams of mobID; with identity set only that member's
// per-member streams end.
func (h *streamHub) endMob(s *server, mobID, identity, outcome string) {
	h.mu.Lock()
	var ended, kept []*eventStream
	for _, st := range h.byMob[mobID] {
		if identity == "" || st.identity == identity {
			ended = append(ended, st)
			delete(h.mobs, st.id)
			h.closed[st.id] = true
		} else {
			kept = append(kept, st)
		}
	}
	if len(kept) == 0 {
		delete(h.byMob, mobID)
	} else {
		h.byMob[mobID] = kept
	}
	h.mu.Unlock()
	for _, st := range ended {
		h.end(s, st, outcome)
	}
}

type streamOpenResult struct {
	StreamID string `json:"stream_id"`
}

type streamCloseResult struct {
	StreamID      string `json:"stream_id"`
	Closed        bool   `json:"closed"`
	AlreadyClosed bool   `json:"already_closed"`
}

func streamIDParam(rc *reqCtx) (string, *rpcError) {
	var p struct {
		StreamID *string `json:"stream_id"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return "", rerr
	}
	if p.StreamID == nil {
		return "", invalidParams("Invalid params: missing field `stream_id`")
	}
	if !isUUID(*p.StreamID) {
		return "", invalidParams("Invalid stream_id: %s", *p.StreamID)
	}
	return *p.StreamID, nil
}

func (s *server) handleSessionStreamOpen(rc *reqCtx) (any, *rpcError) {
	sess, rerr := s.sessionIDParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	st := &eventStream{id: newUUIDv4(), sessionID: sess.id}
	h := s.streams
	h.mu.Lock()
	h.sessions[st.id] = st
	h.bySession[sess.id] = append(append([]*eventStream(nil), h.bySession[sess.id]...), st)
	h.mu.Unlock()
	// The runtime also sends session_id and opened:true; protocol.md (and so
	// the project's contract validator) pins the result to {stream_id}.
	return streamOpenResult{st.id}, nil
}

func (s *server) handleSessionStreamClose(rc *reqCtx) (any, *rpcError) {
	return s.closeStream(rc, s.streams.sessions, s.streams.bySession, func(st *eventStream) string { return st.sessionID })
}

// closeStream ends a subscription registered in streams (by stream id) and
// owners (by owner key). Closing an already-closed stream reports it.
func (s *server) closeStream(rc *reqCtx, streams map[string]*eventStream, owners map[string][]*eventStream, owner func(*eventStream) string) (any, *rpcError) {
	id, rerr := streamIDParam(rc)
	if rerr != nil {
		return nil, rerr
	}
	h := s.streams
	h.mu.Lock()
	st := streams[id]
	already := false
	if st != nil {
		key := owner(st)
		delete(streams, id)
		owners[key] = without(owners[key], st)
		if len(owners[key]) == 0 {
			delete(owners, key)
		}
		h.closed[id] = true
	} else {
		already = h.closed[id]
		delete(h.closed, id)
	}
	h.mu.Unlock()
	if st != nil {
		h.end(s, st, "explicit_close")
	}
	return streamCloseResult{id, true, already}, nil
}

func (s *server) handleMobStreamOpen(rc *reqCtx) (any, *rpcError) {
	var p struct {
		MobID         *string `json:"mob_id"`
		AgentIdentity *string `json:"agent_identity"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.MobID == nil {
		return nil, invalidParams("Invalid params: missing field `mob_id`")
	}
	m := s.realm.mob(*p.MobID)
	if m == nil {
		return nil, mobNotFound(*p.MobID)
	}
	st := &eventStream{id: newUUIDv4(), mobID: m.id}
	if p.AgentIdentity != nil && *p.AgentIdentity != "" {
		if m.member(*p.AgentIdentity) == nil {
			return nil, invalidParams("Failed to subscribe to member events: member not found: %s", *p.AgentIdentity)
		}
		st.identity = *p.AgentIdentity
	}
	h := s.streams
	h.mu.Lock()
	h.mobs[st.id] = st
	h.byMob[m.id] = append(append([]*eventStream(nil), h.byMob[m.id]...), st)
	h.mu.Unlock()
	return streamOpenResult{st.id}, nil
}

func (s *server) handleMobStreamClose(rc *reqCtx) (any, *rpcError) {
	return s.closeStream(rc, s.streams.mobs, s.streams.byMob, func(st *eventStream) string { return st.mobID })
}
