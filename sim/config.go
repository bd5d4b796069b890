package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// configState is the realm config with its CAS generation.
type configState struct {
	Config     json.RawMessage `json:"config"`
	Generation uint64          `json:"generation"`
}

func defaultConfig() json.RawMessage {
	return json.RawMessage(`{"agent":{"model":"claude-sonnet-4-6","max_tokens_per_turn":8192},"comms":{"enabled":true},"skills":{"enabled":true},"tools":{"builtins_enabled":true,"shell_enabled":false}}`)
}

// loadConfigFile refreshes r.cfg from disk (persistent realms only) and
// returns the current state.
func (r *realm) loadConfigFile() (configState, error) {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	return r.loadConfigLocked()
}

func (r *realm) loadConfigLocked() (configState, error) {
	if !r.persistent() {
		return r.cfg, nil
	}
	var st configState
	_, err := readJSONFile(r.configPath(), &st)
	switch {
	case err == nil:
		if jsonKind(st.Config) != "object" {
			st.Config = defaultConfig()
		}
		r.cfg = st
	case errors.Is(err, fs.ErrNotExist):
	default:
		return r.cfg, fmt.Errorf("sim: read config: %w", err)
	}
	return r.cfg, nil
}

// updateConfig applies change under the realm lock with optimistic
// concurrency on expected (nil = unconditional).
func (r *realm) updateConfig(expected *uint64, change func(cur json.RawMessage) (json.RawMessage, *rpcError)) (configState, *rpcError) {
	lock, err := r.lock()
	if err != nil {
		return configState{}, internalError(err)
	}
	defer lock.unlock()
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	cur, err := r.loadConfigLocked()
	if err != nil {
		return configState{}, internalError(err)
	}
	if expected != nil && *expected != cur.Generation {
		return configState{}, invalidParams("Generation conflict: expected %d, current %d", *expected, cur.Generation)
	}
	next, rerr := change(cur.Config)
	if rerr != nil {
		return configState{}, rerr
	}
	st := configState{Config: next, Generation: cur.Generation + 1}
	if r.persistent() {
		if err := writeJSONFileAtomic(r.configPath(), st); err != nil {
			return configState{}, internalError(err)
		}
	}
	r.cfg = st
	return st, nil
}

// configEnvelope is the ConfigEnvelope wire shape.
type configEnvelope struct {
	Config        json.RawMessage `json:"config"`
	Generation    uint64          `json:"generation"`
	RealmID       string          `json:"realm_id"`
	InstanceID    *string         `json:"instance_id"`
	Backend       string          `json:"backend"`
	ResolvedPaths *resolvedPaths  `json:"resolved_paths"`
}

type resolvedPaths struct {
	Root               string  `json:"root"`
	ManifestPath       string  `json:"manifest_path"`
	ConfigPath         string  `json:"config_path"`
	SessionsSQLitePath *string `json:"sessions_sqlite_path"`
	SessionsJSONLDir   string  `json:"sessions_jsonl_dir"`
}

func (r *realm) envelope(st configState) configEnvelope {
	env := configEnvelope{Config: st.Config, Generation: st.Generation, RealmID: r.id, Backend: r.backend}
	if r.instanceID != "" {
		id := r.instanceID
		env.InstanceID = &id
	}
	if r.persistent() {
		p := &resolvedPaths{
			Root:             r.root,
			ManifestPath:     r.manifestPath(),
			ConfigPath:       r.configPath(),
			SessionsJSONLDir: r.sessionsDir(),
		}
		if r.backend == BackendSQLite {
			sq := filepath.Join(r.root, "sessions.sqlite3")
			p.SessionsSQLitePath = &sq
		}
		env.ResolvedPaths = p
	}
	return env
}

// configDefaultModel returns agent.model from the config, if any.
func (r *realm) configDefaultModel() string {
	st, err := r.loadConfigFile()
	if err != nil {
		return ""
	}
	var c struct {
		Agent struct {
			Model string `json:"model"`
		} `json:"agent"`
	}
	_ = json.Unmarshal(st.Config, &c)
	return c.Agent.Model
}

// ---- handlers ----

func (s *server) handleConfigGet(rc *reqCtx) (any, *rpcError) {
	st, err := s.realm.loadConfigFile()
	if err != nil {
		return nil, internalError(err)
	}
	return s.realm.envelope(st), nil
}

func (s *server) handleConfigSet(rc *reqCtx) (any, *rpcError) {
	obj, rerr := paramsObject(rc.params)
	if rerr != nil {
		return nil, rerr
	}
	var expected *uint64
	cfg, wrapped := obj["config"]
	if wrapped {
		if e, ok := obj["expected_generation"]; ok && !isJSONNull(e) {
			var g uint64
			if err := json.Unmarshal(e, &g); err != nil {
				return nil, invalidParams("Invalid params: expected_generation: %v", err)
			}
			expected = &g
		}
	} else {
		cfg = rc.params // compat form: the bare config object
	}
	if jsonKind(cfg) != "object" {
		return nil, invalidParams("Invalid params: config must be an object")
	}
	compact, err := compactJSON(cfg)
	if err != nil {
		return nil, invalidParams("Invalid params: %v", err)
	}
	st, rerr := s.realm.updateConfig(expected, func(json.RawMessage) (json.RawMessage, *rpcError) { return compact, nil })
	if rerr != nil {
		return nil, rerr
	}
	return s.realm.envelope(st), nil
}

func (s *server) handleConfigPatch(rc *reqCtx) (any, *rpcError) {
	var p struct {
		Patch              json.RawMessage `json:"patch"`
		ExpectedGeneration *uint64         `json:"expected_generation"`
	}
	if rerr := decodeParams(rc.params, &p); rerr != nil {
		return nil, rerr
	}
	if len(p.Patch) == 0 {
		return nil, invalidParams("Invalid params: missing field `patch`")
	}
	if jsonKind(p.Patch) != "object" {
		return nil, invalidParams("Invalid params: patch must be an object")
	}
	st, rerr := s.realm.updateConfig(p.ExpectedGeneration, func(cur json.RawMessage) (json.RawMessage, *rpcError) {
		merged, err := mergePatch(cur, p.Patch)
		if err != nil {
			return nil, invalidParams("Invalid params: %v", err)
		}
		if jsonKind(merged) != "object" {
			return nil, invalidParams("Invalid params: patched config must stay an object")
		}
		return merged, nil
	})
	if rerr != nil {
		return nil, rerr
	}
	return s.realm.envelope(st), nil
}

// mergePatch applies an RFC 7396 JSON merge patch.
func mergePatch(target, patch json.RawMessage) (json.RawMessage, error) {
	t, err := decodeAny(target)
	if err != nil {
		return nil, err
	}
	p, err := decodeAny(patch)
	if err != nil {
		return nil, err
	}
	return marshal(applyMergePatch(t, p))
}

func applyMergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = applyMergePatch(tm[k], v)
	}
	return tm
}

// decodeAny decodes JSON keeping numbers exact.
func decodeAny(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode json: %w", err)
	}
	return v, nil
}
