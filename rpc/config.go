package rpc

import (
	"context"
	"encoding/json"
	"fmt"
)

// ConfigEnvelope is the runtime's configuration with its generation.
type ConfigEnvelope struct {
	// Config is the configuration document.
	Config json.RawMessage `json:"config"`
	// Generation increases with every write; pass it back as the expected
	// generation to make a write conditional.
	Generation uint64 `json:"generation"`
	RealmID    string `json:"realm_id,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
	Backend    string `json:"backend,omitempty"`
	// ResolvedPaths are the realm's files, raw.
	ResolvedPaths json.RawMessage `json:"resolved_paths,omitempty"`
}

// GetConfig reads the runtime configuration (config/get).
func (c *Client) GetConfig(ctx context.Context) (*ConfigEnvelope, error) {
	var env ConfigEnvelope
	if err := c.conn.call(ctx, "config/get", struct{}{}, &env); err != nil {
		return nil, err
	}
	return &env, nil
}

// SetConfig replaces the configuration (config/set). With expected
// non-nil the write happens only if the current generation equals
// *expected; otherwise it fails with [ErrInvalidParams] ("Generation
// conflict").
func (c *Client) SetConfig(ctx context.Context, config any, expected *uint64) (*ConfigEnvelope, error) {
	return c.writeConfig(ctx, "config/set", "config", config, expected)
}

// PatchConfig applies an RFC 7396 JSON merge patch (config/patch), with the
// same generation check as SetConfig.
func (c *Client) PatchConfig(ctx context.Context, patch any, expected *uint64) (*ConfigEnvelope, error) {
	return c.writeConfig(ctx, "config/patch", "patch", patch, expected)
}

func (c *Client) writeConfig(ctx context.Context, method, key string, doc any, expected *uint64) (*ConfigEnvelope, error) {
	b, err := json.Marshal(doc)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: %s needs a JSON object", ErrInvalidArgs, method)
	}
	p := map[string]any{key: json.RawMessage(b)}
	if expected != nil {
		p["expected_generation"] = *expected
	}
	var env ConfigEnvelope
	if err := c.conn.call(ctx, method, p, &env); err != nil {
		return nil, err
	}
	return &env, nil
}

// Skill is one entry of skills/list.
type Skill struct {
	Key         SkillKey        `json:"key"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Scope       string          `json:"scope"`
	Source      json.RawMessage `json:"source"`
	IsActive    bool            `json:"is_active"`
	ShadowedBy  json.RawMessage `json:"shadowed_by,omitempty"`
}

// ListSkills lists the skills the runtime knows (skills/list).
func (c *Client) ListSkills(ctx context.Context) ([]Skill, error) {
	var res struct {
		Skills []Skill `json:"skills"`
	}
	if err := c.conn.call(ctx, "skills/list", struct{}{}, &res); err != nil {
		return nil, err
	}
	return res.Skills, nil
}
