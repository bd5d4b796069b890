package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// Mob lifecycle states.
const (
	mobRunning   = "Running"
	mobStopped   = "Stopped"
	mobCompleted = "Completed"
)

// mobData is the persisted state of a mob (one JSON file each).
type mobData struct {
	Version    int             `json:"version"`
	ID         string          `json:"mob_id"`
	Definition json.RawMessage `json:"definition"`
	Status     string          `json:"status"`
	Members    []memberData    `json:"members"`
	Events     []mobEvent      `json:"events"`
	Cursor     uint64          `json:"cursor"`
	Runs       []*flowRun      `json:"runs"`
}

type memberData struct {
	Identity    string            `json:"agent_identity"`
	Role        string            `json:"role"`
	SessionID   string            `json:"session_id"`
	Generation  uint64            `json:"generation"`
	RuntimeMode string            `json:"runtime_mode"`
	Labels      map[string]string `json:"labels,omitempty"`
	WiredTo     []string          `json:"wired_to,omitempty"`
}

// mobEvent is one entry of the mob's append-only event log.
type mobEvent struct {
	Cursor    uint64          `json:"cursor"`
	Timestamp string          `json:"timestamp"`
	MobID     string          `json:"mob_id"`
	Kind      json.RawMessage `json:"kind"`
}

// mob is a live mob.
type mob struct {
	id    string
	realm *realm

	saveMu sync.Mutex
	mu     sync.Mutex
	data   mobData
	def    *mobDefinition
	stamp  fileStamp
	gone   bool
	runs   map[string]context.CancelCauseFunc // flows running in this process
}

// ---- definition ----

type mobProfile struct {
	Model        string          `json:"model"`
	Provider     *string         `json:"provider"`
	RuntimeMode  string          `json:"runtime_mode"`
	RealmProfile string          `json:"realm_profile"`
	OutputSchema json.RawMessage `json:"output_schema"`
}

type flowStep struct {
	id                string
	Role              string          `json:"role"`
	Message           json.RawMessage `json:"message"`
	DependsOn         []string        `json:"depends_on"`
	DependsOnMode     string          `json:"depends_on_mode"`
	DispatchMode      string          `json:"dispatch_mode"`
	Condition         json.RawMessage `json:"condition"`
	FailurePolicy     string          `json:"failure_policy"`
	TimeoutMS         *uint64         `json:"timeout_ms"`
	OutputFormat      string          `json:"output_format"`
	ExpectedSchemaRef string          `json:"expected_schema_ref"`
}

type mobDefinition struct {
	ID           string
	Orchestrator string
	Profiles     map[string]mobProfile
	AutoWireOrch bool
	RoleWiring   [][2]string
	Flows        map[string][]*flowStep // steps in dependency order
	MaxFlowMS    uint64
}

var (
	mobDefKeys = keySet("id", "orchestrator", "profiles", "models", "image_generation_provider", "wiring",
		"skills", "backend", "flows", "topology", "supervisor", "limits", "spawn_policy", "event_router")
	profileKeys = keySet("auto_compact_threshold", "backend", "external_addressable", "image_generation_provider",
		"max_inline_peer_notifications", "model", "output_schema", "peer_description", "provider", "provider_params",
		"resume_overrides", "runtime_mode", "self_hosted_server_id", "skills", "tools")
	stepKeys = keySet("allowed_tools", "blocked_tools", "branch", "collection_policy", "condition", "depends_on",
		"depends_on_mode", "dispatch_mode", "expected_schema_ref", "failure_policy", "message", "output_format",
		"role", "timeout_ms")
	flowKeys = keySet("description", "root", "steps")
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// orderedKeys returns the keys of a JSON object in document order.
func orderedKeys(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, err
		}
	}
	return keys, m, nil
}

func checkKeys(obj map[string]json.RawMessage, allowed map[string]bool, where string) *rpcError {
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !allowed[k] {
			return invalidParams("Invalid params: unknown field `%s` in %s", k, where)
		}
	}
	return nil
}

// parseMobDefinition validates a MobDefinition (JSON form).
func parseMobDefinition(raw json.RawMessage) (*mobDefinition, *rpcError) {
	if jsonKind(raw) != "object" {
		return nil, invalidParams("Invalid params: missing field `definition`")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, invalidParams("Invalid params: definition: %v", err)
	}
	if rerr := checkKeys(top, mobDefKeys, "mob definition"); rerr != nil {
		return nil, rerr
	}
	def := &mobDefinition{Profiles: map[string]mobProfile{}, Flows: map[string][]*flowStep{}}
	if err := json.Unmarshal(top["id"], &def.ID); err != nil || strings.TrimSpace(def.ID) == "" {
		return nil, invalidParams("Invalid params: definition.id must be a non-empty string")
	}
	if jsonKind(top["profiles"]) != "object" {
		return nil, invalidParams("Invalid params: missing field `profiles` in mob definition")
	}
	var profiles map[string]json.RawMessage
	_ = json.Unmarshal(top["profiles"], &profiles)
	if len(profiles) == 0 {
		return nil, invalidParams("Invalid params: mob definition needs at least one profile")
	}
	for name, praw := range profiles {
		var pm map[string]json.RawMessage
		if jsonKind(praw) != "object" || json.Unmarshal(praw, &pm) != nil {
			return nil, invalidParams("Invalid params: profile `%s` must be an object", name)
		}
		var p mobProfile
		if _, ok := pm["realm_profile"]; ok && len(pm) == 1 {
			if err := json.Unmarshal(praw, &p); err != nil || p.RealmProfile == "" {
				return nil, invalidParams("Invalid params: profile `%s`: realm_profile must be a string", name)
			}
			p.Model = "claude-sonnet-4-6"
		} else {
			if rerr := checkKeys(pm, profileKeys, "profile `"+name+"`"); rerr != nil {
				return nil, rerr
			}
			if err := json.Unmarshal(praw, &p); err != nil {
				return nil, invalidParams("Invalid params: profile `%s`: %v", name, err)
			}
			if p.Model == "" {
				return nil, invalidParams("Invalid params: profile `%s`: missing field `model`", name)
			}
		}
		switch p.RuntimeMode {
		case "":
			p.RuntimeMode = "autonomous_host"
		case "autonomous_host", "turn_driven":
		default:
			return nil, invalidParams("Invalid params: profile `%s`: unknown runtime_mode `%s`", name, p.RuntimeMode)
		}
		if p.Provider != nil && !providers[*p.Provider] {
			return nil, invalidParams("Invalid params: profile `%s`: unknown provider `%s`", name, *p.Provider)
		}
		def.Profiles[name] = p
	}
	if o := top["orchestrator"]; !isJSONNull(o) {
		var orch struct {
			Profile string `json:"profile"`
		}
		if jsonKind(o) != "object" || json.Unmarshal(o, &orch) != nil || orch.Profile == "" {
			return nil, invalidParams("Invalid params: orchestrator must be an object {\"profile\": ...}")
		}
		if _, ok := def.Profiles[orch.Profile]; !ok {
			return nil, invalidParams("Invalid params: orchestrator profile `%s` is not defined", orch.Profile)
		}
		def.Orchestrator = orch.Profile
	}
	if w := top["wiring"]; !isJSONNull(w) {
		var wiring struct {
			AutoWireOrchestrator bool `json:"auto_wire_orchestrator"`
			RoleWiring           []struct {
				A string `json:"a"`
				B string `json:"b"`
			} `json:"role_wiring"`
		}
		if err := json.Unmarshal(w, &wiring); err != nil {
			return nil, invalidParams("Invalid params: wiring: %v", err)
		}
		def.AutoWireOrch = wiring.AutoWireOrchestrator
		for _, r := range wiring.RoleWiring {
			for _, role := range []string{r.A, r.B} {
				if _, ok := def.Profiles[role]; !ok {
					return nil, invalidParams("Invalid params: role_wiring references unknown profile `%s`", role)
				}
			}
			def.RoleWiring = append(def.RoleWiring, [2]string{r.A, r.B})
		}
	}
	if l := top["limits"]; !isJSONNull(l) {
		var limits struct {
			MaxFlowDurationMS uint64 `json:"max_flow_duration_ms"`
		}
		if err := json.Unmarshal(l, &limits); err != nil {
			return nil, invalidParams("Invalid params: limits: %v", err)
		}
		def.MaxFlowMS = limits.MaxFlowDurationMS
	}
	if f := top["flows"]; !isJSONNull(f) {
		if jsonKind(f) != "object" {
			return nil, invalidParams("Invalid params: flows must be an object")
		}
		var flows map[string]json.RawMessage
		_ = json.Unmarshal(f, &flows)
		for id, fraw := range flows {
			steps, rerr := parseFlow(def, id, fraw)
			if rerr != nil {
				return nil, rerr
			}
			def.Flows[id] = steps
		}
	}
	return def, nil
}

// parseFlow validates a FlowSpec and returns its steps in dependency order.
func parseFlow(def *mobDefinition, flowID string, raw json.RawMessage) ([]*flowStep, *rpcError) {
	var fm map[string]json.RawMessage
	if jsonKind(raw) != "object" || json.Unmarshal(raw, &fm) != nil {
		return nil, invalidParams("Invalid params: flow `%s` must be an object", flowID)
	}
	if rerr := checkKeys(fm, flowKeys, "flow `"+flowID+"`"); rerr != nil {
		return nil, rerr
	}
	var order []string
	steps := map[string]*flowStep{}
	if sraw := fm["steps"]; !isJSONNull(sraw) {
		keys, sm, err := orderedKeys(sraw)
		if err != nil {
			return nil, invalidParams("Invalid params: flow `%s` steps: %v", flowID, err)
		}
		for _, id := range keys {
			var km map[string]json.RawMessage
			if jsonKind(sm[id]) != "object" || json.Unmarshal(sm[id], &km) != nil {
				return nil, invalidParams("Invalid params: step `%s` must be an object", id)
			}
			if rerr := checkKeys(km, stepKeys, "step `"+id+"`"); rerr != nil {
				return nil, rerr
			}
			st := &flowStep{id: id}
			if err := json.Unmarshal(sm[id], st); err != nil {
				return nil, invalidParams("Invalid params: step `%s`: %v", id, err)
			}
			if _, ok := def.Profiles[st.Role]; !ok {
				return nil, invalidParams("Invalid params: step `%s`: unknown role `%s`", id, st.Role)
			}
			if jsonKind(st.Message) != "string" && jsonKind(st.Message) != "array" {
				return nil, invalidParams("Invalid params: step `%s`: missing field `message`", id)
			}
			steps[id] = st
			order = append(order, id)
		}
	}
	if rraw := fm["root"]; !isJSONNull(rraw) {
		if rerr := applyFrame(steps, rraw, nil); rerr != nil {
			return nil, rerr
		}
	}
	for _, id := range order {
		for _, dep := range steps[id].DependsOn {
			if _, ok := steps[dep]; !ok {
				return nil, invalidParams("Invalid params: step `%s` depends on unknown step `%s`", id, dep)
			}
		}
	}
	// Kahn's algorithm, ties broken by document order.
	var sorted []*flowStep
	done := map[string]bool{}
	for len(sorted) < len(order) {
		progressed := false
		for _, id := range order {
			if done[id] {
				continue
			}
			ready := true
			for _, dep := range steps[id].DependsOn {
				if !done[dep] {
					ready = false
					break
				}
			}
			if ready {
				done[id] = true
				sorted = append(sorted, steps[id])
				progressed = true
			}
		}
		if !progressed {
			return nil, invalidParams("Invalid params: flow `%s` has a dependency cycle", flowID)
		}
	}
	return sorted, nil
}

// applyFrame folds a root frame's node dependencies into the steps (loops
// run their body once in the simulator).
func applyFrame(steps map[string]*flowStep, raw json.RawMessage, inherited []string) *rpcError {
	var frame struct {
		Nodes json.RawMessage `json:"nodes"`
	}
	if err := json.Unmarshal(raw, &frame); err != nil || jsonKind(frame.Nodes) != "object" {
		return invalidParams("Invalid params: flow root must be {\"nodes\": {...}}")
	}
	_, nodes, err := orderedKeys(frame.Nodes)
	if err != nil {
		return invalidParams("Invalid params: flow root nodes: %v", err)
	}
	stepOf := map[string]string{}
	type node struct {
		Kind      string          `json:"kind"`
		StepID    string          `json:"step_id"`
		DependsOn []string        `json:"depends_on"`
		Body      json.RawMessage `json:"body"`
	}
	parsed := map[string]node{}
	for id, nraw := range nodes {
		var n node
		if err := json.Unmarshal(nraw, &n); err != nil {
			return invalidParams("Invalid params: flow node `%s`: %v", id, err)
		}
		parsed[id] = n
		if n.Kind == "step" {
			stepOf[id] = n.StepID
		}
	}
	for id, n := range parsed {
		deps := append([]string(nil), inherited...)
		for _, d := range n.DependsOn {
			if sid, ok := stepOf[d]; ok {
				deps = append(deps, sid)
			}
		}
		switch n.Kind {
		case "step":
			st, ok := steps[n.StepID]
			if !ok {
				return invalidParams("Invalid params: flow node `%s` references unknown step `%s`", id, n.StepID)
			}
			st.DependsOn = append(st.DependsOn, deps...)
		case "repeat_until":
			if rerr := applyFrame(steps, n.Body, deps); rerr != nil {
				return rerr
			}
		default:
			return invalidParams("Invalid params: flow node `%s`: unknown kind `%s`", id, n.Kind)
		}
	}
	return nil
}

// ---- realm access ----

// mob returns the live mob with id (loading it from disk if needed).
func (r *realm) mob(id string) *mob {
	r.mu.Lock()
	m := r.mobs[id]
	r.mu.Unlock()
	if m != nil {
		if m.refresh() {
			return m
		}
		r.mu.Lock()
		if r.mobs[id] == m {
			delete(r.mobs, id)
		}
		r.mu.Unlock()
		return nil
	}
	if !r.persistent() {
		return nil
	}
	var data mobData
	stamp, err := readJSONFile(r.mobPath(id), &data)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("load mob", zap.String("mob_id", id), zap.Error(err))
		}
		return nil
	}
	def, rerr := parseMobDefinition(data.Definition)
	if rerr != nil || data.ID != id {
		r.log.Warn("stored mob definition is invalid", zap.String("mob_id", id))
		return nil
	}
	loaded := &mob{id: id, realm: r, data: data, def: def, stamp: stamp, runs: map[string]context.CancelCauseFunc{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := r.mobs[id]; cur != nil {
		return cur
	}
	r.mobs[id] = loaded
	return loaded
}

// allMobs lists every mob of the realm.
func (r *realm) allMobs() []*mob {
	ids := map[string]bool{}
	if r.persistent() {
		entries, _ := os.ReadDir(r.mobsDir())
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
				continue
			}
			var head struct {
				ID string `json:"mob_id"`
			}
			if _, err := readJSONFile(r.mobsDir()+string(os.PathSeparator)+name, &head); err == nil && head.ID != "" {
				ids[head.ID] = true
			}
		}
	}
	r.mu.Lock()
	for id := range r.mobs {
		ids[id] = true
	}
	r.mu.Unlock()
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var out []*mob
	for _, id := range sorted {
		if m := r.mob(id); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// refresh reloads the mob if another process changed it; false means the
// mob is gone.
func (m *mob) refresh() bool {
	m.mu.Lock()
	gone, busy := m.gone, len(m.runs) > 0
	m.mu.Unlock()
	if gone {
		return false
	}
	if !m.realm.persistent() || busy {
		return true
	}
	fi, err := os.Stat(m.realm.mobPath(m.id))
	if errors.Is(err, fs.ErrNotExist) {
		m.mu.Lock()
		m.gone = true
		m.mu.Unlock()
		return false
	}
	if err != nil {
		return true
	}
	m.mu.Lock()
	same := m.stamp == stampOf(fi)
	m.mu.Unlock()
	if same {
		return true
	}
	var data mobData
	stamp, err := readJSONFile(m.realm.mobPath(m.id), &data)
	if err != nil || data.ID != m.id {
		return true
	}
	m.saveMu.Lock()
	m.mu.Lock()
	m.data, m.stamp = data, stamp
	m.mu.Unlock()
	m.saveMu.Unlock()
	return true
}

// save persists the mob (no-op in memory).
func (m *mob) save() {
	if !m.realm.persistent() {
		return
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	m.mu.Lock()
	if m.gone {
		m.mu.Unlock()
		return
	}
	data, err := marshal(&m.data)
	m.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(m.realm.mobPath(m.id), data)
	}
	if err != nil {
		m.realm.log.Warn("save mob", zap.String("mob_id", m.id), zap.Error(err))
		return
	}
	if fi, err := os.Stat(m.realm.mobPath(m.id)); err == nil {
		m.mu.Lock()
		m.stamp = stampOf(fi)
		m.mu.Unlock()
	}
}

// appendEvent adds a mob event (the caller saves).
func (m *mob) appendEventLocked(kind map[string]any) {
	m.data.Cursor++
	m.data.Events = append(m.data.Events, mobEvent{
		Cursor: m.data.Cursor, Timestamp: rfc3339(nowMS()), MobID: m.id, Kind: mustMarshal(kind),
	})
}

func (m *mob) addEvent(kind map[string]any) {
	m.mu.Lock()
	m.appendEventLocked(kind)
	m.mu.Unlock()
	m.save()
}

func (m *mob) status() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data.Status
}

// member returns a copy of the active member with identity, or nil.
func (m *mob) member(identity string) *memberData {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mem := range m.data.Members {
		if mem.Identity == identity {
			c := mem
			return &c
		}
	}
	return nil
}

func (m *mob) activeMembers() []memberData {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]memberData(nil), m.data.Members...)
}

func (m *mob) wiredTo(identity string) []string {
	if mem := m.member(identity); mem != nil {
		return mem.WiredTo
	}
	return nil
}

// wireLocked connects a and b (both directions); it reports whether the
// edge is new.
func (m *mob) wireLocked(a, b string) bool { return m.setEdgeLocked(a, b, true) }

// unwireLocked disconnects a and b; it reports whether the edge existed.
func (m *mob) unwireLocked(a, b string) bool { return m.setEdgeLocked(a, b, false) }

// setEdgeLocked adds (on) or removes the a–b edge on both members and
// reports whether anything changed.
func (m *mob) setEdgeLocked(a, b string, on bool) bool {
	changed := false
	for i := range m.data.Members {
		mem := &m.data.Members[i]
		other := ""
		switch mem.Identity {
		case a:
			other = b
		case b:
			other = a
		default:
			continue
		}
		has := containsString(mem.WiredTo, other)
		switch {
		case on && !has:
			mem.WiredTo = append(mem.WiredTo, other)
			sort.Strings(mem.WiredTo)
			changed = true
		case !on && has:
			mem.WiredTo = removeString(mem.WiredTo, other)
			changed = true
		}
	}
	return changed
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func removeString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// ---- handlers ----

func (s *server) mobMethods() map[string]handlerFunc {
	return map[string]handlerFunc{
		"mob/create":        s.handleMobCreate,
		"mob/list":          s.handleMobList,
		"mob/status":        s.handleMobStatus,
		"mob/lifecycle":     s.handleMobLifecycle,
		"mob/destroy":       s.handleMobDestroy,
		"mob/spawn":         s.handleMobSpawn,
		"mob/spawn_many":    s.handleMobSpawnMany,
		"mob/retire":        s.handleMobRetire,
		"mob/respawn":       s.handleMobRespawn,
		"mob/wire":          s.handleMobWire,
		"mob/unwire":        s.handleMobUnwire,
		"mob/members":       s.handleMobMembers,
		"mob/member_status": s.handleMobMemberStatus,
		"mob/member_send":   s.handleMobMemberSend,
		"mob/turn_start":    s.handleMobTurnStart,
		"mob/events":        s.handleMobEvents,
		"mob/flows":         s.handleMobFlows,
		"mob/flow_run":      s.handleMobFlowRun,
		"mob/run":           s.handleMobRun,
		"mob/flow_status":   s.handleMobFlowStatus,
		"mob/run_result":    s.handleMobRunResult,
		"mob/flow_cancel":   s.handleMobFlowCancel,
		"mob/stream_open":   s.handleMobStreamOpen,
		"mob/stream_close":  s.handleMobStreamClose,
	}
}

// mobParam resolves params.mob_id.
func (s *server) mobParam(raw json.RawMessage) (*mob, *rpcError) {
	var p struct {
		MobID *string `json:"mob_id"`
	}
	if rerr := decodeParams(raw, &p); rerr != nil {
		return nil, rerr
	}
	if p.MobID == nil {
		return nil, invalidParams("Invalid params: missing field `mob_id`")
	}
	if strings.TrimSpace(*p.MobID) == "" {
		return nil, invalidParams("mob_id must not be empty")
	}
	m := s.realm.mob(*p.MobID)
	if m == nil {
		return nil, mobNotFound(*p.MobID)
	}
	return m, nil
}

// memberParam resolves params.mob_id + params.agent_identity.
func (s *server) memberParam(raw json.RawMessage) (*mob, *memberData, *rpcError) {
	m, rerr := s.mobParam(raw)
	if rerr != nil {
		return nil, nil, rerr
	}
	var p struct {
		AgentIdentity *string `json:"agent_identity"`
	}
	_ = json.Unmarshal(raw, &p)
	if p.AgentIdentity == nil {
		return nil, nil, invalidParams("Invalid params: missing field `agent_identity`")
	}
	mem := m.member(*p.AgentIdentity)
	if mem == nil {
		return nil, nil, invalidParams("Member not found: %s", *p.AgentIdentity)
	}
	return m, mem, nil
}

func requireRunning(m *mob) *rpcError {
	if st := m.status(); st != mobRunning {
		return invalidParams("Mob %s is not running (status %s)", m.id, st)
	}
	return nil
}

func (s *server) handleMobCreate(rc *reqCtx) (any, *rpcError) {
	obj, rerr := paramsObject(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	if rerr := checkKeys(obj, keySet("definition"), "mob/create params"); rerr != nil {
		return nil, rerr
	}
	def, rerr := parseMobDefinition(obj["definition"])
	if rerr != nil {
		return nil, rerr
	}
	canon, err := compactJSON(obj["definition"])
	if err != nil {
		return nil, invalidParams("Invalid params: %v", err)
	}
	lock, err := s.realm.lock()
	if err != nil {
		return nil, internalError(err)
	}
	defer lock.unlock()
	if s.realm.mob(def.ID) != nil {
		return nil, invalidParams("Mob already exists: %s", def.ID)
	}
	m := &mob{id: def.ID, realm: s.realm, def: def, runs: map[string]context.CancelCauseFunc{},
		data: mobData{Version: 1, ID: def.ID, Definition: canon, Status: mobRunning, Members: []memberData{}, Runs: []*flowRun{}}}
	m.appendEventLocked(map[string]any{"type": "mob_created", "definition": canon})
	s.realm.mu.Lock()
	s.realm.mobs[m.id] = m
	s.realm.mu.Unlock()
	m.save()
	return struct {
		MobID string `json:"mob_id"`
	}{m.id}, nil
}

type mobStatusResult struct {
	MobID  string `json:"mob_id"`
	Status string `json:"status"`
}

func (s *server) handleMobList(rc *reqCtx) (any, *rpcError) {
	if rerr := decodeParams(rc.params, &struct{}{}); rerr != nil {
		return nil, rerr
	}
	list := []mobStatusResult{}
	for _, m := range s.realm.allMobs() {
		list = append(list, mobStatusResult{m.id, m.status()})
	}
	return struct {
		Mobs []mobStatusResult `json:"mobs"`
	}{list}, nil
}

func (s *server) handleMobStatus(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	return mobStatusResult{m.id, m.status()}, nil
}

func (s *server) handleMobLifecycle(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		Action string `json:"action"`
	}
	_ = json.Unmarshal(rc.params, &p)
	result := struct {
		MobID         string         `json:"mob_id"`
		Action        string         `json:"action"`
		OK            bool           `json:"ok"`
		DestroyReport map[string]any `json:"destroy_report,omitempty"`
	}{MobID: m.id, Action: p.Action, OK: true}
	switch p.Action {
	case "stop":
		m.mu.Lock()
		m.data.Status = mobStopped
		m.appendEventLocked(map[string]any{"type": "mob_stopped"})
		m.mu.Unlock()
		m.save()
	case "resume":
		m.mu.Lock()
		if m.data.Status == mobCompleted {
			m.mu.Unlock()
			return nil, invalidParams("Mob %s is completed and cannot resume", m.id)
		}
		m.data.Status = mobRunning
		m.mu.Unlock()
		m.save()
	case "complete":
		m.mu.Lock()
		m.data.Status = mobCompleted
		m.appendEventLocked(map[string]any{"type": "mob_completed"})
		m.mu.Unlock()
		m.save()
	case "reset":
		s.cancelMobRuns(m)
		s.retireAll(m)
		m.mu.Lock()
		m.data.Status = mobRunning
		m.data.Runs = []*flowRun{}
		m.appendEventLocked(map[string]any{"type": "mob_reset"})
		m.mu.Unlock()
		m.save()
	case "destroy":
		result.DestroyReport = s.destroyMob(m)
	default:
		return nil, invalidParams("Invalid params: unknown lifecycle action `%s`", p.Action)
	}
	return result, nil
}

func (s *server) handleMobDestroy(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	return struct {
		MobID         string         `json:"mob_id"`
		OK            bool           `json:"ok"`
		DestroyReport map[string]any `json:"destroy_report"`
	}{m.id, true, s.destroyMob(m)}, nil
}

// destroyMob retires every member and deletes the mob.
func (s *server) destroyMob(m *mob) map[string]any {
	s.cancelMobRuns(m)
	m.addEvent(map[string]any{"type": "mob_destroying"})
	retired := s.retireAll(m)
	m.mu.Lock()
	m.gone = true
	m.mu.Unlock()
	s.realm.mu.Lock()
	if s.realm.mobs[m.id] == m {
		delete(s.realm.mobs, m.id)
	}
	s.realm.mu.Unlock()
	if s.realm.persistent() {
		m.saveMu.Lock()
		if err := os.Remove(s.realm.mobPath(m.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove mob", zap.String("mob_id", m.id), zap.Error(err))
		}
		m.saveMu.Unlock()
	}
	s.streams.endMob(s, m.id, "", "remote_end")
	return map[string]any{"retired_members": retired, "archived_sessions": len(retired), "complete": true}
}

func (s *server) cancelMobRuns(m *mob) {
	m.mu.Lock()
	cancels := make([]context.CancelCauseFunc, 0, len(m.runs))
	for _, c := range m.runs {
		cancels = append(cancels, c)
	}
	m.mu.Unlock()
	for _, c := range cancels {
		c(errRequestCancelled)
	}
}

// retireAll retires every member and returns their identities.
func (s *server) retireAll(m *mob) []string {
	retired := []string{}
	for _, mem := range m.activeMembers() {
		s.retireMember(m, mem.Identity)
		retired = append(retired, mem.Identity)
	}
	return retired
}

// retireMember removes a member from the roster and archives its session.
func (s *server) retireMember(m *mob, identity string) bool {
	m.mu.Lock()
	idx := -1
	for i, mem := range m.data.Members {
		if mem.Identity == identity {
			idx = i
		}
	}
	if idx < 0 {
		m.mu.Unlock()
		return false
	}
	mem := m.data.Members[idx]
	m.data.Members = append(m.data.Members[:idx:idx], m.data.Members[idx+1:]...)
	for _, other := range mem.WiredTo {
		m.unwireLocked(identity, other)
	}
	m.appendEventLocked(map[string]any{"type": "member_retired", "agent_identity": identity, "role": mem.Role, "generation": mem.Generation, "session_id": mem.SessionID})
	m.mu.Unlock()
	m.save()
	if sess := s.realm.session(mem.SessionID); sess != nil {
		if done := sess.interrupt(errSessionArchived); done != nil {
			<-done
		}
		if err := s.realm.removeSession(sess); err != nil {
			s.log.Warn("archive member session", zap.Error(err))
		}
		s.streams.endSession(s, sess.id, "remote_end")
	}
	s.streams.endMob(s, m.id, identity, "remote_end")
	return true
}

// spawnSpec is one member to spawn.
type spawnSpec struct {
	Profile        *string           `json:"profile"`
	AgentIdentity  *string           `json:"agent_identity"`
	InitialMessage json.RawMessage   `json:"initial_message"`
	RuntimeMode    *string           `json:"runtime_mode"`
	Labels         map[string]string `json:"labels"`
	ModelOverride  *string           `json:"model_override"`
}

// spawnMember creates a member and its session; cause is a spawn_many
// failure cause when it fails.
func (s *server) spawnMember(m *mob, spec spawnSpec, generation uint64, wiredTo []string) (*memberData, string, *rpcError) {
	if spec.Profile == nil || *spec.Profile == "" {
		return nil, "definition_error", invalidParams("Invalid params: missing field `profile`")
	}
	if spec.AgentIdentity == nil || strings.TrimSpace(*spec.AgentIdentity) == "" {
		return nil, "definition_error", invalidParams("Invalid params: missing field `agent_identity`")
	}
	if rerr := requireRunning(m); rerr != nil {
		return nil, "invalid_transition", rerr
	}
	prof, ok := m.def.Profiles[*spec.Profile]
	if !ok {
		return nil, "profile_not_found", invalidParams("Profile not found: %s", *spec.Profile)
	}
	var prompt *contentInput
	if !isJSONNull(spec.InitialMessage) {
		var rerr *rpcError
		if prompt, rerr = parseContent(spec.InitialMessage, "initial_message"); rerr != nil {
			return nil, "definition_error", rerr
		}
	}
	mode := prof.RuntimeMode
	if spec.RuntimeMode != nil {
		if *spec.RuntimeMode != "autonomous_host" && *spec.RuntimeMode != "turn_driven" {
			return nil, "definition_error", invalidParams("Invalid params: unknown runtime_mode `%s`", *spec.RuntimeMode)
		}
		mode = *spec.RuntimeMode
	}
	identity := *spec.AgentIdentity
	model := prof.Model
	if spec.ModelOverride != nil && *spec.ModelOverride != "" {
		model = *spec.ModelOverride
	}
	data := s.newSessionData(&model, prof.Provider)
	data.MobID, data.AgentIdentity, data.Role, data.Generation = m.id, identity, *spec.Profile, generation
	data.CommsName = identity
	data.Labels = spec.Labels
	if schema, rerr := resolveOutputSchema(prof.OutputSchema); rerr == nil {
		data.OutputSchema = schema
	}
	sess := newSession(s.realm, data)

	m.mu.Lock()
	for _, mem := range m.data.Members {
		if mem.Identity == identity {
			m.mu.Unlock()
			return nil, "member_already_exists", invalidParams("Member already exists: %s", identity)
		}
	}
	mem := memberData{Identity: identity, Role: *spec.Profile, SessionID: sess.id, Generation: generation, RuntimeMode: mode, Labels: spec.Labels}
	m.data.Members = append(m.data.Members, mem)
	m.appendEventLocked(map[string]any{"type": "member_spawned", "agent_identity": identity, "role": mem.Role,
		"generation": generation, "runtime_mode": mode, "session_id": sess.id})
	var edges [][2]string
	for _, other := range m.data.Members {
		if other.Identity == identity {
			continue
		}
		if containsString(wiredTo, other.Identity) || s.autoWire(m.def, mem.Role, other.Role) {
			edges = append(edges, [2]string{identity, other.Identity})
		}
	}
	for _, e := range edges {
		if m.wireLocked(e[0], e[1]) {
			m.appendEventLocked(map[string]any{"type": "members_wired", "a": e[0], "b": e[1]})
		}
	}
	self := &m.data.Members[len(m.data.Members)-1]
	for _, peer := range wiredTo {
		if strings.HasPrefix(peer, "external:") && !containsString(self.WiredTo, peer) {
			self.WiredTo = append(self.WiredTo, peer)
			m.appendEventLocked(map[string]any{"type": "members_wired", "a": identity, "b": peer})
		}
	}
	sort.Strings(self.WiredTo)
	stored := *self
	m.mu.Unlock()
	if err := s.realm.addSession(sess); err != nil {
		s.log.Warn("save member session", zap.Error(err))
	}
	m.save()
	if prompt != nil {
		s.runBackgroundTurn(&turnSpec{sess: sess, method: "mob/spawn", prompt: prompt})
	}
	return &stored, "", nil
}

// autoWire reports whether the definition wires a new member of role a to
// an existing member of role b.
func (s *server) autoWire(def *mobDefinition, a, b string) bool {
	if def.AutoWireOrch && def.Orchestrator != "" && (a == def.Orchestrator || b == def.Orchestrator) {
		return true
	}
	for _, r := range def.RoleWiring {
		if (r[0] == a && r[1] == b) || (r[0] == b && r[1] == a) {
			return true
		}
	}
	return false
}

type spawnResult struct {
	MobID         string `json:"mob_id"`
	AgentIdentity string `json:"agent_identity"`
	MemberRef     string `json:"member_ref"`
}

func (s *server) handleMobSpawn(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var spec spawnSpec
	if rerr := decodeParams(rc.params, &spec); rerr != nil {
		return nil, rerr
	}
	mem, _, rerr := s.spawnMember(m, spec, 0, nil)
	if rerr != nil {
		return nil, rerr
	}
	return spawnResult{m.id, mem.Identity, memberRef(m.id, mem.Identity)}, nil
}

func (s *server) handleMobSpawnMany(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		Specs *[]spawnSpec `json:"specs"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if p.Specs == nil {
		return nil, invalidParams("Invalid params: missing field `specs`")
	}
	type entry struct {
		Status string `json:"status"`
		Result any    `json:"result"`
	}
	results := []entry{}
	for _, spec := range *p.Specs {
		mem, cause, rerr := s.spawnMember(m, spec, 0, nil)
		if rerr != nil {
			results = append(results, entry{"failed", struct {
				Cause   string `json:"cause"`
				Message string `json:"message"`
			}{cause, rerr.Message}})
			continue
		}
		results = append(results, entry{"spawned", struct {
			AgentIdentity string `json:"agent_identity"`
			MemberRef     string `json:"member_ref"`
		}{mem.Identity, memberRef(m.id, mem.Identity)}})
	}
	return struct {
		Results []entry `json:"results"`
	}{results}, nil
}

func (s *server) handleMobRetire(rc *reqCtx) (any, *rpcError) {
	m, mem, rerr := s.memberParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	return struct {
		Retired bool `json:"retired"`
	}{s.retireMember(m, mem.Identity)}, nil
}

func (s *server) handleMobRespawn(rc *reqCtx) (any, *rpcError) {
	m, mem, rerr := s.memberParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		InitialMessage json.RawMessage `json:"initial_message"`
	}
	_ = json.Unmarshal(rc.params, &p)
	s.retireMember(m, mem.Identity)
	role, identity := mem.Role, mem.Identity
	spec := spawnSpec{Profile: &role, AgentIdentity: &identity, InitialMessage: p.InitialMessage, RuntimeMode: &mem.RuntimeMode, Labels: mem.Labels}
	fresh, _, rerr := s.spawnMember(m, spec, mem.Generation+1, mem.WiredTo)
	if rerr != nil {
		return nil, rerr
	}
	var failed []string
	for _, peer := range mem.WiredTo {
		if !containsString(fresh.WiredTo, peer) {
			failed = append(failed, peer)
		}
	}
	status := "completed"
	if len(failed) > 0 {
		status = "topology_restore_failed"
	}
	return struct {
		Status  string `json:"status"`
		Receipt struct {
			Identity  string `json:"identity"`
			MemberRef string `json:"member_ref"`
		} `json:"receipt"`
		FailedPeerIDs []string `json:"failed_peer_ids,omitempty"`
	}{Status: status, Receipt: struct {
		Identity  string `json:"identity"`
		MemberRef string `json:"member_ref"`
	}{fresh.Identity, memberRef(m.id, fresh.Identity)}, FailedPeerIDs: failed}, nil
}

// wireParams decodes {member, peer:{local}|{external}}.
func wireParams(raw json.RawMessage) (member, peer string, rerr *rpcError) {
	var p struct {
		Member *string `json:"member"`
		Peer   *struct {
			Local    *string `json:"local"`
			External *struct {
				Name string `json:"name"`
			} `json:"external"`
		} `json:"peer"`
	}
	if rerr := decodeParams(raw, &p); rerr != nil {
		return "", "", rerr
	}
	if p.Member == nil {
		return "", "", invalidParams("Invalid params: missing field `member`")
	}
	switch {
	case p.Peer == nil:
		return "", "", invalidParams("Invalid params: missing field `peer`")
	case p.Peer.Local != nil:
		return *p.Member, *p.Peer.Local, nil
	case p.Peer.External != nil && p.Peer.External.Name != "":
		return *p.Member, "external:" + p.Peer.External.Name, nil
	}
	return "", "", invalidParams("Invalid params: peer must be {\"local\": id} or {\"external\": {...}}")
}

func (s *server) handleMobWire(rc *reqCtx) (any, *rpcError) {
	return s.wireOrUnwire(rc, true)
}

func (s *server) handleMobUnwire(rc *reqCtx) (any, *rpcError) {
	return s.wireOrUnwire(rc, false)
}

func (s *server) wireOrUnwire(rc *reqCtx, wire bool) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	member, peer, rerr := wireParams(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	if m.member(member) == nil {
		return nil, invalidParams("Member not found: %s", member)
	}
	external := strings.HasPrefix(peer, "external:")
	if !external && m.member(peer) == nil {
		return nil, invalidParams("Member not found: %s", peer)
	}
	if peer == member {
		return nil, invalidParams("Invalid params: cannot wire a member to itself")
	}
	m.mu.Lock()
	if wire {
		changed := false
		if external {
			for i := range m.data.Members {
				if mem := &m.data.Members[i]; mem.Identity == member && !containsString(mem.WiredTo, peer) {
					mem.WiredTo = append(mem.WiredTo, peer)
					changed = true
				}
			}
		} else {
			changed = m.wireLocked(member, peer)
		}
		if changed {
			m.appendEventLocked(map[string]any{"type": "members_wired", "a": member, "b": peer})
		}
	} else {
		var changed bool
		if external {
			for i := range m.data.Members {
				if mem := &m.data.Members[i]; mem.Identity == member && containsString(mem.WiredTo, peer) {
					mem.WiredTo = removeString(mem.WiredTo, peer)
					changed = true
				}
			}
		} else {
			changed = m.unwireLocked(member, peer)
		}
		if changed {
			m.appendEventLocked(map[string]any{"type": "members_unwired", "a": member, "b": peer})
		}
	}
	m.mu.Unlock()
	m.save()
	if wire {
		return struct {
			Wired bool `json:"wired"`
		}{true}, nil
	}
	return struct {
		Unwired bool `json:"unwired"`
	}{true}, nil
}

type memberEntry struct {
	AgentIdentity string            `json:"agent_identity"`
	MemberRef     string            `json:"member_ref"`
	Role          string            `json:"role"`
	RuntimeMode   string            `json:"runtime_mode"`
	WiredTo       []string          `json:"wired_to,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Status        string            `json:"status"`
	IsFinal       bool              `json:"is_final"`
	PeerID        string            `json:"peer_id"`
}

func (s *server) handleMobMembers(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	list := []memberEntry{}
	for _, mem := range m.activeMembers() {
		list = append(list, memberEntry{
			AgentIdentity: mem.Identity, MemberRef: memberRef(m.id, mem.Identity), Role: mem.Role,
			RuntimeMode: mem.RuntimeMode, WiredTo: mem.WiredTo, Labels: mem.Labels, Status: "active", PeerID: mem.SessionID,
		})
	}
	return struct {
		MobID   string        `json:"mob_id"`
		Members []memberEntry `json:"members"`
	}{m.id, list}, nil
}

func (s *server) handleMobMemberStatus(rc *reqCtx) (any, *rpcError) {
	_, mem, rerr := s.memberParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var tokens uint64
	var preview *string
	if sess := s.realm.session(mem.SessionID); sess != nil {
		d := sess.snapshot()
		tokens = d.TotalTokens
		if d.LastAssistantText != nil {
			p := truncate(*d.LastAssistantText, 200)
			preview = &p
		}
	}
	return struct {
		Status           string  `json:"status"`
		OutputPreview    *string `json:"output_preview,omitempty"`
		TokensUsed       uint64  `json:"tokens_used"`
		IsFinal          bool    `json:"is_final"`
		CurrentSessionID string  `json:"current_session_id"`
	}{"active", preview, tokens, false, mem.SessionID}, nil
}

func (s *server) handleMobMemberSend(rc *reqCtx) (any, *rpcError) {
	m, mem, rerr := s.memberParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		Content      json.RawMessage `json:"content"`
		HandlingMode *string         `json:"handling_mode"`
	}
	_ = json.Unmarshal(rc.params, &p)
	prompt, rerr := parseContent(p.Content, "content")
	if rerr != nil {
		return nil, rerr
	}
	mode := "queue"
	if p.HandlingMode != nil {
		if *p.HandlingMode != "queue" && *p.HandlingMode != "steer" {
			return nil, invalidParams("Invalid params: unknown handling_mode `%s`", *p.HandlingMode)
		}
		mode = *p.HandlingMode
	}
	if rerr := requireRunning(m); rerr != nil {
		return nil, rerr
	}
	sess := s.realm.session(mem.SessionID)
	if sess == nil {
		return nil, sessionNotFound(mem.SessionID)
	}
	s.runBackgroundTurn(&turnSpec{sess: sess, method: rc.method, prompt: prompt})
	return struct {
		MobID         string `json:"mob_id"`
		AgentIdentity string `json:"agent_identity"`
		MemberRef     string `json:"member_ref"`
		HandlingMode  string `json:"handling_mode"`
	}{m.id, mem.Identity, memberRef(m.id, mem.Identity), mode}, nil
}

func (s *server) handleMobTurnStart(rc *reqCtx) (any, *rpcError) {
	_, mem, rerr := s.memberParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p turnParams
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	prompt, schema, rerr := p.validate()
	if rerr != nil {
		return nil, rerr
	}
	sess := s.realm.session(mem.SessionID)
	if sess == nil {
		return nil, sessionNotFound(mem.SessionID)
	}
	if !sess.tryAcquire() {
		return nil, busyError(sess.id)
	}
	return s.runHeldTurn(rc, &turnSpec{sess: sess, method: rc.method, prompt: prompt, schema: schema,
		retries: p.StructuredOutputRetries, skillRefs: p.SkillRefs, model: p.Model, provider: p.Provider})
}

func (s *server) handleMobEvents(rc *reqCtx) (any, *rpcError) {
	m, rerr := s.mobParam(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var p struct {
		AfterCursor uint64  `json:"after_cursor"`
		Limit       *uint64 `json:"limit"`
		Strict      bool    `json:"strict"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	limit := uint64(100)
	if p.Limit != nil {
		limit = min(*p.Limit, 1000)
	}
	m.mu.Lock()
	latest := m.data.Cursor
	events := []mobEvent{}
	for _, e := range m.data.Events {
		if e.Cursor > p.AfterCursor && uint64(len(events)) < limit {
			events = append(events, e)
		}
	}
	m.mu.Unlock()
	if p.Strict && p.AfterCursor > latest {
		return nil, &rpcError{Code: codeStaleCursor, Message: fmt.Sprintf("Stale cursor: requested %d, watermark %d", p.AfterCursor, latest),
			Data: mustMarshal(map[string]uint64{"watermark": latest, "requested": p.AfterCursor})}
	}
	return struct {
		Events []mobEvent `json:"events"`
	}{events}, nil
}
