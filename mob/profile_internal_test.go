package mob

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flows"
)

// Every field of a profile reaches the member's session or its turns;
// none is dropped.
func TestMemberSpecCarriesProfile(t *testing.T) {
	def, err := flows.LoadJSON([]byte(`{"id": "m",
		"skills": {"review": {"source": "inline", "content": "Check error handling."}},
		"profiles": {"w": {"model": "claude-sonnet-4-6", "provider": "anthropic", "self_hosted_server_id": "gpu-1",
			"skills": ["review"], "tools": {"builtins": true, "shell": true, "comms": true, "memory": true, "schedule": true, "workgraph": true, "mob": true},
			"peer_description": "reviews code", "output_schema": {"type": "object"},
			"provider_params": {"thinking": {"budget_tokens": 1024}}, "resume_overrides": ["model", "provider_params"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	skills, err := skillTexts(def)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mob{id: "m", def: def, skills: skills}
	prof := def.Profiles["w"]

	spec := m.memberSpec("w", "w", prof, "", "")
	so := spec.Session
	if spec.Model != "claude-sonnet-4-6" || spec.Provider != "anthropic" || spec.Profile != "reviews code" || spec.Identity != "m/w" {
		t.Errorf("spec %+v", spec)
	}
	if !so.EnableBuiltins || !so.EnableShell || !so.EnableMemory || !so.EnableSchedule || !so.EnableWorkgraph || !so.EnableMob {
		t.Errorf("tool families %+v", so)
	}
	if so.CommsName != "m/w" || !so.KeepAlive {
		t.Errorf("comms: name %q keep-alive %v", so.CommsName, so.KeepAlive)
	}
	if len(so.AdditionalInstructions) != 1 || !strings.Contains(so.AdditionalInstructions[0], "Check error handling.") {
		t.Errorf("skills %q", so.AdditionalInstructions)
	}
	var schema struct{ Schema map[string]any }
	if err := json.Unmarshal(so.OutputSchema, &schema); err != nil || schema.Schema["type"] != "object" {
		t.Errorf("output schema %s: %v", so.OutputSchema, err)
	}
	if !strings.Contains(string(so.ProviderParams), "budget_tokens") || spec.TurnDefaults.SelfHostedServerID != "gpu-1" {
		t.Errorf("provider params %s, turn defaults %+v", so.ProviderParams, spec.TurnDefaults)
	}
	if spec.TurnDefaults.Model != "" {
		t.Errorf("a new session's turns override its model: %+v", spec.TurnDefaults)
	}

	// Re-attached: the resume overrides go on every turn.
	again := m.memberSpec("w", "w", prof, "", "sess-1")
	if again.SessionID != "sess-1" || again.Prompt != "" || again.TurnDefaults.Model != "claude-sonnet-4-6" ||
		!strings.Contains(string(again.TurnDefaults.ProviderParams), "budget_tokens") || again.TurnDefaults.Provider != "" {
		t.Errorf("re-attached spec %+v", again)
	}
}

// A model of the definition's registry gives a member's session its
// provider (unless the profile names one) and its max_tokens.
func TestMemberSpecUsesModelRegistry(t *testing.T) {
	def, err := flows.LoadJSON([]byte(`{"id": "m",
		"models": {"house-7b": {"provider": "self_hosted", "max_output_tokens": 2048, "context_window": 32768}},
		"profiles": {"w": {"model": "house-7b"}, "v": {"model": "house-7b", "provider": "other"}, "x": {"model": "gpt-5"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := &Mob{id: "m", def: def}
	for _, tc := range []struct {
		profile, provider string
		maxTokens         uint32
	}{{"w", "self_hosted", 2048}, {"v", "other", 2048}, {"x", "", 0}} {
		spec := m.memberSpec(tc.profile, tc.profile, def.Profiles[tc.profile], "", "")
		if spec.Provider != tc.provider || spec.Session.MaxTokens != tc.maxTokens {
			t.Errorf("profile %s: provider %q max_tokens %d, want %q and %d", tc.profile, spec.Provider, spec.Session.MaxTokens, tc.provider, tc.maxTokens)
		}
	}
	// The resume override of the provider takes the registry's too.
	def.Profiles["w"] = flows.Profile{Model: "house-7b", ResumeOverrides: []flows.ResumeOverride{"provider"}}
	if again := m.memberSpec("w", "w", def.Profiles["w"], "", "sess-1"); again.TurnDefaults.Provider != "self_hosted" {
		t.Errorf("re-attached turn defaults %+v", again.TurnDefaults)
	}
}

// A skill read from a file that does not exist fails the mob's creation.
func TestPathSkillMustExist(t *testing.T) {
	def, err := flows.LoadJSON([]byte(`{"id": "m", "skills": {"s": {"source": "path", "path": "/nonexistent/skill.md"}},
		"profiles": {"w": {"model": "x", "skills": ["s"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := skillTexts(def); err == nil || !strings.Contains(err.Error(), `skill "s"`) {
		t.Fatalf("err = %v", err)
	}
}
