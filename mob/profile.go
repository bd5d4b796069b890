package mob

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/flows"
)

// skillTexts reads the text of every skill of a definition: inline
// content, or a file for a "path" skill (relative to the process's working
// directory). A skill that cannot be read is an error, so that no member
// is spawned without a skill its profile names.
func skillTexts(def *flows.Definition) (map[string]string, error) {
	out := make(map[string]string, len(def.Skills))
	for name, src := range def.Skills {
		switch src.Source {
		case "path":
			b, err := os.ReadFile(src.Path)
			if err != nil {
				return nil, fmt.Errorf("mob: skill %q: %w", name, err)
			}
			out[name] = string(b)
		default:
			out[name] = src.Content
		}
	}
	return out, nil
}

// memberSpec is the actor spec of a member of a profile: every field of
// the profile goes to the member's session (new) or its turns.
//
//   - model, provider, provider_params, output_schema: the session's
//     settings; on a re-attached session, the fields resume_overrides lists
//     are set on every turn instead, so that they win over the session's.
//   - self_hosted_server_id: on every turn.
//   - skills: their text, as additional instructions of the session.
//   - tools: the session's tool families; comms gives the session a comms
//     name (the member's mob-qualified identity), and with the default
//     runtime_mode autonomous_host keeps its agent alive between turns.
//   - peer_description: the member's profile, in its introduction.
//
// A model the definition's models registry lists gives the session its
// provider, when the profile names none, and its max_tokens from
// max_output_tokens. The registry's other fields describe the model to
// Meerkat's catalog; the session API has no place for them.
func (m *Mob) memberSpec(id, profile string, prof flows.Profile, prompt, session string) actors.MemberSpec {
	if mc, ok := m.def.Models[prof.Model]; ok && prof.Provider == "" {
		prof.Provider = mc.Provider
	}
	spec := actors.MemberSpec{
		Identity: m.qualify(id), Role: profile, Profile: prof.PeerDescription,
		SessionID: session, Prompt: prompt, Model: prof.Model, Provider: string(prof.Provider),
		Labels: map[string]string{"mobd_mob": m.id},
	}
	if spec.Prompt == "" && session == "" {
		spec.Prompt = fmt.Sprintf("You are %s, a member of mob %s with the role %s.", id, m.id, profile)
		if prof.PeerDescription != "" {
			spec.Prompt += " " + prof.PeerDescription
		}
	}
	so := &spec.Session
	so.ProviderParams = prof.ProviderParams
	if mc, ok := m.def.Models[prof.Model]; ok && mc.MaxOutputTokens != nil {
		so.MaxTokens = *mc.MaxOutputTokens
	}
	if prof.OutputSchema != nil {
		so.OutputSchema, _ = json.Marshal(prof.OutputSchema) // plain data: cannot fail
	}
	t := prof.Tools
	so.EnableBuiltins, so.EnableShell, so.EnableMemory = t.Builtins, t.Shell, t.Memory
	so.EnableWorkgraph, so.EnableMob, so.EnableSchedule = t.Workgraph, t.Mob, t.Schedule
	if t.Comms {
		so.CommsName = spec.Identity
		so.KeepAlive = prof.RuntimeMode != flows.RuntimeTurnDriven
	}
	for _, name := range prof.Skills {
		so.AdditionalInstructions = append(so.AdditionalInstructions, fmt.Sprintf("Skill %s:\n%s", name, m.skills[name]))
	}
	spec.TurnDefaults.SelfHostedServerID = prof.SelfHostedServerID
	if session != "" {
		td := &spec.TurnDefaults
		if slices.Contains(prof.ResumeOverrides, "model") {
			td.Model = prof.Model
		}
		if slices.Contains(prof.ResumeOverrides, "provider") {
			td.Provider = string(prof.Provider)
		}
		if slices.Contains(prof.ResumeOverrides, "provider_params") {
			td.ProviderParams = prof.ProviderParams
		}
	}
	return spec
}
