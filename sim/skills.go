package sim

// skillSource is SkillSourceProvenance.
type skillSource struct {
	SourceUUID    string `json:"source_uuid"`
	DisplayName   string `json:"display_name"`
	TransportKind string `json:"transport_kind"`
	Fingerprint   string `json:"fingerprint"`
	Status        string `json:"status"`
}

// skillEntry is SkillEntry.
type skillEntry struct {
	Key         skillKey     `json:"key"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Scope       string       `json:"scope"`
	Source      skillSource  `json:"source"`
	IsActive    bool         `json:"is_active"`
	ShadowedBy  *skillSource `json:"shadowed_by"`
	content     string
}

// Canned skill sources and skills.
const (
	builtinSkillSource = "7f0c5d1e-3b2a-4c8d-9e6f-1a2b3c4d5e6f"
	projectSkillSource = "0b9e8d7c-6a5f-4e3d-8c2b-1f0e9d8c7b6a"
)

func cannedSkills() []skillEntry {
	builtin := skillSource{builtinSkillSource, "rkat-sim builtin skills", "embedded", "sha256:5a1d0c0ffee0b5e1", "active"}
	project := skillSource{projectSkillSource, "project skills (.rkat/skills)", "filesystem", "sha256:0ddba11cafe0f00d", "active"}
	return []skillEntry{
		{
			Key: skillKey{builtinSkillSource, "summarize"}, Name: "Summarize",
			Description: "Summarise a text into a few key points", Scope: "builtin", Source: builtin, IsActive: true,
			content: "When asked to summarise, answer with at most three key points.",
		},
		{
			Key: skillKey{projectSkillSource, "code-review"}, Name: "Code review",
			Description: "Review a change for correctness, style and risk", Scope: "project", Source: project, IsActive: true,
			content: "Review the change and list findings ordered by severity.",
		},
	}
}

func (s *server) handleSkillsList(*reqCtx) (any, *rpcError) {
	return struct {
		Skills []skillEntry `json:"skills"`
	}{cannedSkills()}, nil
}

// resolveSkills splits requested keys into known skills and unknown keys.
func resolveSkills(keys []skillKey) (found []skillEntry, missing []skillKey) {
	catalog := cannedSkills()
outer:
	for _, k := range keys {
		for _, e := range catalog {
			if e.Key == k {
				found = append(found, e)
				continue outer
			}
		}
		missing = append(missing, k)
	}
	return found, missing
}
