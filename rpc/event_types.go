package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Event types: the wire names of the contract's AgentEvent payloads.
const (
	EventTypeRunStarted                             = "run_started"
	EventTypeRunCompleted                           = "run_completed"
	EventTypeExtractionSucceeded                    = "extraction_succeeded"
	EventTypeExtractionFailed                       = "extraction_failed"
	EventTypeRunFailed                              = "run_failed"
	EventTypeHookStarted                            = "hook_started"
	EventTypeHookCompleted                          = "hook_completed"
	EventTypeHookFailed                             = "hook_failed"
	EventTypeHookDenied                             = "hook_denied"
	EventTypeTurnStarted                            = "turn_started"
	EventTypeReasoningDelta                         = "reasoning_delta"
	EventTypeReasoningComplete                      = "reasoning_complete"
	EventTypeTextDelta                              = "text_delta"
	EventTypeTextComplete                           = "text_complete"
	EventTypeServerToolContent                      = "server_tool_content"
	EventTypeAssistantImageAppended                 = "assistant_image_appended"
	EventTypeToolCallRequested                      = "tool_call_requested"
	EventTypeToolResultReceived                     = "tool_result_received"
	EventTypeTurnCompleted                          = "turn_completed"
	EventTypeToolExecutionStarted                   = "tool_execution_started"
	EventTypeToolExecutionCompleted                 = "tool_execution_completed"
	EventTypeToolExecutionTimedOut                  = "tool_execution_timed_out"
	EventTypeCompactionStarted                      = "compaction_started"
	EventTypeCompactionCompleted                    = "compaction_completed"
	EventTypeCompactionFailed                       = "compaction_failed"
	EventTypeBudgetWarning                          = "budget_warning"
	EventTypeRetrying                               = "retrying"
	EventTypeSkillsResolved                         = "skills_resolved"
	EventTypeSkillResolutionFailed                  = "skill_resolution_failed"
	EventTypeInteractionComplete                    = "interaction_complete"
	EventTypeInteractionCallbackPending             = "interaction_callback_pending"
	EventTypeInteractionFailed                      = "interaction_failed"
	EventTypeStreamTruncated                        = "stream_truncated"
	EventTypeToolConfigChanged                      = "tool_config_changed"
	EventTypeBackgroundJobCompleted                 = "background_job_completed"
	EventTypeTranscriptRewriteCommitted             = "transcript_rewrite_committed"
	EventTypeTranscriptRewriteAuditReceiptCommitted = "transcript_rewrite_audit_receipt_committed"
	EventTypeProviderCacheBreakpointsDiscarded      = "provider_cache_breakpoints_discarded"
	EventTypePeerContentIngested                    = "peer_content_ingested"
	EventTypeTurnUsageAccountingUnmeasured          = "turn_usage_accounting_unmeasured"
	EventTypeTurnUsageAccountingIdentityDisputed    = "turn_usage_accounting_identity_disputed"
)

// ---- Shared value types ----

// EventUsage is token usage as events carry it: [Usage] plus the provider's
// accounting. turn_completed carries per-call usage with Accounting set;
// run_completed carries the session-cumulative total without it. Take the
// latest cumulative value rather than summing, and sum
// Accounting.PresentedTokens, not InputTokens, across turns.
type EventUsage struct {
	Usage
	// Accounting attributes a per-call usage to a provider and model.
	Accounting *ProviderTokenAccounting `json:"accounting,omitempty"`
	// ProviderAccounting is the provider-authored accounting, when reported.
	ProviderAccounting *ProviderTokenAccounting `json:"provider_accounting,omitempty"`
}

// ProviderTokenAccounting names the provider and model one model call was
// made to, and the normalized input it presented.
type ProviderTokenAccounting struct {
	// Provider is "anthropic", "openai", "gemini", "self_hosted" or "other".
	Provider string `json:"provider"`
	// Model is the resolved model name.
	Model string `json:"model"`
	// PresentedTokens is the provider-normalized input of the call.
	PresentedTokens uint64 `json:"presented_tokens"`
	// Convention says how the provider counts cached input.
	Convention string `json:"convention"`
	// Aggregation says how PresentedTokens was derived.
	Aggregation string `json:"aggregation"`
}

// ContentBlock is one block of tool-result or run-input content as events
// carry it. Type is "text", "image", "video", "structured" or
// "skill_context"; the other fields belong to the types noted.
type ContentBlock struct {
	// Type tags the block.
	Type string `json:"type"`
	// Text is the text of a "text" or "skill_context" block.
	Text string `json:"text,omitempty"`
	// MediaType is the MIME type of an "image" or "video" block.
	MediaType string `json:"media_type,omitempty"`
	// Source says where media bytes live: "inline", "blob" or "uri".
	Source string `json:"source,omitempty"`
	// Data is the base64-encoded media of an inline image or video.
	Data string `json:"-"`
	// BlobID names a stored image when Source is "blob".
	BlobID string `json:"blob_id,omitempty"`
	// URI locates a video when Source is "uri".
	URI string `json:"uri,omitempty"`
	// DurationMS is a video's duration in milliseconds.
	DurationMS uint64 `json:"duration_ms,omitempty"`
	// SkillKey names the skill of a "skill_context" block.
	SkillKey *SkillKey `json:"skill_key,omitempty"`
	// Structured is the JSON value of a "structured" block.
	Structured json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes a block; "data" goes to Structured for a
// "structured" block and to Data otherwise.
func (b *ContentBlock) UnmarshalJSON(data []byte) error {
	type plain ContentBlock
	var aux struct {
		plain
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*b = ContentBlock(aux.plain)
	if b.Type == "" {
		return errors.New("content block: type is required")
	}
	if len(aux.Data) > 0 && !evIsNull(aux.Data) {
		if b.Type == "structured" {
			b.Structured = aux.Data
		} else if err := json.Unmarshal(aux.Data, &b.Data); err != nil {
			return fmt.Errorf("content block: data: %w", err)
		}
	}
	return nil
}

// MarshalJSON encodes the block in its wire form, with Data or Structured
// as "data", and a video's required "duration_ms" even when it is 0.
func (b ContentBlock) MarshalJSON() ([]byte, error) {
	type plain ContentBlock
	aux := struct {
		plain
		Data       any     `json:"data,omitempty"`
		DurationMS *uint64 `json:"duration_ms,omitempty"`
	}{plain: plain(b)}
	if b.Type == "video" {
		aux.DurationMS = &b.DurationMS
	}
	switch {
	case b.Type == "structured" && len(b.Structured) > 0:
		aux.Data = b.Structured
	case b.Data != "":
		aux.Data = b.Data
	}
	return json.Marshal(aux)
}

// Block returns b as a [Block] when it is a text, image or video block.
func (b ContentBlock) Block() (Block, bool) {
	switch b.Type {
	case "text", "image", "video":
		return Block{Type: b.Type, Text: b.Text, MediaType: b.MediaType, Source: b.Source,
			Data: b.Data, BlobID: b.BlobID, URI: b.URI, DurationMS: b.DurationMS}, true
	}
	return Block{}, false
}

// ContentBlocks is a list of content blocks.
type ContentBlocks []ContentBlock

// Text returns the text of the "text" blocks, concatenated.
func (bs ContentBlocks) Text() string {
	var b strings.Builder
	for _, blk := range bs {
		if blk.Type == "text" {
			b.WriteString(blk.Text)
		}
	}
	return b.String()
}

// RunInput is what a run was started with: caller content (Kind "content")
// or the continuation after pending tool results (Kind
// "pending_tool_results", no content).
type RunInput struct {
	// Kind is "content" or "pending_tool_results".
	Kind string
	// Text is the prompt when it was plain text.
	Text string
	// Blocks is the prompt when it was a block list; nil for plain text.
	Blocks ContentBlocks
}

// String returns the prompt text: Text, or the text of Blocks.
func (in RunInput) String() string {
	if in.Blocks != nil {
		return in.Blocks.Text()
	}
	return in.Text
}

// MarshalJSON encodes the wire form {"kind": …, "content": string | [blocks]}.
func (in RunInput) MarshalJSON() ([]byte, error) {
	aux := struct {
		Kind    string `json:"kind"`
		Content any    `json:"content,omitempty"`
	}{Kind: in.Kind}
	switch {
	case in.Blocks != nil:
		aux.Content = in.Blocks
	case in.Kind == "content" || in.Text != "":
		aux.Content = in.Text
	}
	return json.Marshal(aux)
}

// UnmarshalJSON decodes {"kind": …, "content": string | [blocks]}.
func (in *RunInput) UnmarshalJSON(data []byte) error {
	var aux struct {
		Kind    string          `json:"kind"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	if aux.Kind == "" {
		return errors.New("run input: kind is required")
	}
	*in = RunInput{Kind: aux.Kind}
	c := evTrimSpace(aux.Content)
	switch {
	case len(c) == 0 || evIsNull(c):
		if aux.Kind == "content" {
			return errors.New("run input: content is required")
		}
	case c[0] == '"':
		return json.Unmarshal(c, &in.Text)
	case c[0] == '[':
		in.Blocks = ContentBlocks{}
		return json.Unmarshal(c, &in.Blocks)
	default:
		return errors.New("run input: content must be a string or an array of blocks")
	}
	return nil
}

// AgentErrorReport is the typed failure of a run.
type AgentErrorReport struct {
	// Class is the error class, e.g. "llm", "budget", "hook".
	Class string `json:"class"`
	// Message is the human-readable failure.
	Message string `json:"message"`
	// Reason is the structured reason, an object tagged by "reason_type"
	// (e.g. "llm_rate_limited"); nil when absent.
	Reason json.RawMessage `json:"reason,omitempty"`
}

// SchemaWarning is a provider's warning about an output schema.
type SchemaWarning struct {
	Provider string `json:"provider"` // the provider that warned
	Path     string `json:"path"`     // the schema location warned about
	Message  string `json:"message"`  // the warning
}

// HookFailureReason says why a hook failed. ReasonCode is "timeout"
// (TimeoutMS set), "execution_failed", "config_invalid" (Message set) or
// "observe_only_violation"; it is empty for a legacy event whose only
// failure fact was an error string, carried in Message.
type HookFailureReason struct {
	ReasonCode string `json:"reason_code"`          // the failure kind
	TimeoutMS  uint64 `json:"timeout_ms,omitempty"` // the timeout that expired
	Message    string `json:"message,omitempty"`    // what went wrong
}

// ServerToolKind names a provider-executed tool: Kind "web_search",
// "google_search", or "provider_native" with Name.
type ServerToolKind struct {
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

// AssistantImage is an image the assistant produced.
type AssistantImage struct {
	ImageID   string  `json:"image_id"`   // the image's id in the transcript
	BlobRef   BlobRef `json:"blob_ref"`   // where the image bytes are stored
	MediaType string  `json:"media_type"` // e.g. "image/png"
	Width     uint32  `json:"width"`      // in pixels
	Height    uint32  `json:"height"`     // in pixels
	// RevisedPrompt is an object tagged by "disposition".
	RevisedPrompt json.RawMessage `json:"revised_prompt,omitempty"`
	// Meta is provider image metadata, an object tagged by "provider".
	Meta json.RawMessage `json:"meta,omitempty"`
}

// BlobRef refers to a stored blob.
type BlobRef struct {
	BlobID    string `json:"blob_id"`
	MediaType string `json:"media_type"`
}

// CompactionFailureReason says why a compaction failed. Kind is one of
// "llm_failed", "empty_summary", "curator_failed", "estimation_failed",
// "memory_indexing_failed", "transcript_rewrite_failed",
// "projection_handoff_refused"; the other fields belong to some kinds.
type CompactionFailureReason struct {
	Kind             string `json:"kind"`
	ErrorClass       string `json:"error_class,omitempty"`
	Message          string `json:"message,omitempty"`
	AttemptedEntries uint64 `json:"attempted_entries,omitempty"`
	Refusal          string `json:"refusal,omitempty"`
	PreservedHistory string `json:"preserved_history,omitempty"`
}

// RetrySchedule is the typed schedule of an LLM retry.
type RetrySchedule struct {
	Failure RetryFailure `json:"failure"`
	Plan    RetryPlan    `json:"plan"`
}

// RetryFailure is the recoverable failure being retried.
type RetryFailure struct {
	// Provider names the LLM provider that failed.
	Provider string `json:"provider"`
	// Kind is "rate_limited", "network_timeout", "call_timeout" or
	// "retryable_provider_error".
	Kind string `json:"kind"`
	// Message describes the failure.
	Message string `json:"message"`
	// DurationMS is how long the failed call ran, for timeouts.
	DurationMS *uint64 `json:"duration_ms,omitempty"`
	// RetryAfterMS is the provider's retry-after hint, when given.
	RetryAfterMS *uint64 `json:"retry_after_ms,omitempty"`
}

// RetryPlan is when and how often the call is retried.
type RetryPlan struct {
	// Attempt numbers this retry.
	Attempt uint32 `json:"attempt"`
	// MaxRetries is the most retries the policy allows.
	MaxRetries uint32 `json:"max_retries"`
	// ComputedDelayMS is the backoff the policy computed.
	ComputedDelayMS uint64 `json:"computed_delay_ms"`
	// SelectedDelayMS is the delay actually waited before the retry.
	SelectedDelayMS uint64 `json:"selected_delay_ms"`
	// RateLimitFloorApplied says a rate-limit floor raised the delay.
	RateLimitFloorApplied bool `json:"rate_limit_floor_applied"`
	// BudgetCapped says a budget capped the delay.
	BudgetCapped bool `json:"budget_capped"`
	// RetryAfterHintMS is the provider's retry-after hint, when given.
	RetryAfterHintMS *uint64 `json:"retry_after_hint_ms,omitempty"`
}

// SkillResolutionFailureReason says why a skill reference did not resolve.
// ReasonType is e.g. "not_found", "capability_unavailable", "load",
// "parse", "unknown_skill_alias"; Raw holds the whole reason object for the
// variant-specific fields not modelled here.
type SkillResolutionFailureReason struct {
	ReasonType string    `json:"reason_type"`
	Key        *SkillKey `json:"key,omitempty"`
	Capability string    `json:"capability,omitempty"`
	Message    string    `json:"message,omitempty"`
	Alias      string    `json:"alias,omitempty"`
	// Raw is the reason object as received.
	Raw json.RawMessage `json:"-"`
}

// UnmarshalJSON decodes the reason and keeps it in Raw.
func (r *SkillResolutionFailureReason) UnmarshalJSON(data []byte) error {
	type plain SkillResolutionFailureReason
	if err := json.Unmarshal(data, (*plain)(r)); err != nil {
		return err
	}
	r.Raw = append(json.RawMessage(nil), data...)
	return nil
}

// InteractionFailureReason says why an interaction failed. Kind is
// "cancelled", "abandoned" or "finalization_failed" (Detail set),
// "interaction_stream_abandoned" (Reason set) or "extraction_failed"
// (LastOutput, Attempts and Reason set).
type InteractionFailureReason struct {
	Kind       string `json:"kind"`
	Detail     string `json:"detail,omitempty"`
	Reason     string `json:"reason,omitempty"`
	LastOutput string `json:"last_output,omitempty"`
	Attempts   uint32 `json:"attempts,omitempty"`
}

// PendingToolCall is one callback tool call an interaction waits for.
type PendingToolCall struct {
	ToolUseID string          `json:"tool_use_id"` // the model's id for the call
	ToolName  string          `json:"tool_name"`   // the callback tool
	Args      json.RawMessage `json:"args"`        // the arguments, verbatim
}

// StreamTruncationReason says why stream events were dropped. Kind is
// "channel_full", "stream_lagged" or "output_audio_degraded" (Dropped),
// "remote_cursor_overrun" (Watermark) or "oversized_remote_event"
// (DurableSeq, EncodedBytes, MaxBytes).
type StreamTruncationReason struct {
	Kind         string `json:"kind"`
	Dropped      uint64 `json:"dropped,omitempty"`
	Watermark    uint64 `json:"watermark,omitempty"`
	DurableSeq   uint64 `json:"durable_seq,omitempty"`
	EncodedBytes uint64 `json:"encoded_bytes,omitempty"`
	MaxBytes     uint64 `json:"max_bytes,omitempty"`
}

// ToolConfigChange describes a live tool configuration change.
type ToolConfigChange struct {
	// Operation is "add", "remove" or "reload".
	Operation string `json:"operation"`
	// Target names the tool or tool source changed.
	Target string `json:"target"`
	// StatusInfo is the typed status of the change.
	StatusInfo *ToolConfigStatus `json:"status_info,omitempty"`
	// Status is the plain status string of older runtimes.
	Status string `json:"status,omitempty"`
	// Persisted says the change was persisted to configuration.
	Persisted bool `json:"persisted"`
	// AppliedAtTurn is the turn the change took effect at, when known.
	AppliedAtTurn *uint32 `json:"applied_at_turn,omitempty"`
	// Domain is "tool_scope" or "deferred_catalog", when reported.
	Domain string `json:"domain,omitempty"`
	// DeferredCatalogDelta lists deferred-catalog changes, verbatim.
	DeferredCatalogDelta json.RawMessage `json:"deferred_catalog_delta,omitempty"`
}

// ToolConfigStatus is the status of a tool configuration change. Kind is
// "boundary_applied", "deferred_catalog_delta", "warning_failed_closed" or
// "external_tool_delta"; the other fields belong to some kinds.
type ToolConfigStatus struct {
	Kind               string `json:"kind"`
	BaseChanged        bool   `json:"base_changed,omitempty"`
	VisibleChanged     bool   `json:"visible_changed,omitempty"`
	Revision           uint64 `json:"revision,omitempty"`
	AddedHiddenCount   uint64 `json:"added_hidden_count,omitempty"`
	RemovedHiddenCount uint64 `json:"removed_hidden_count,omitempty"`
	PendingSourceCount uint64 `json:"pending_source_count,omitempty"`
	Error              string `json:"error,omitempty"`
	Phase              string `json:"phase,omitempty"`
	Detail             string `json:"detail,omitempty"`
}

// DiscardedCacheBreakpoint is one provider cache breakpoint that no longer binds.
type DiscardedCacheBreakpoint struct {
	// Origin is "authored_this_turn" or "persisted_evidence".
	Origin string `json:"origin"`
	// Reason is an object tagged by "kind", verbatim.
	Reason json.RawMessage `json:"reason"`
	// Identity names the breakpoint's provider, model and boundary, verbatim; nil when absent.
	Identity json.RawMessage `json:"identity,omitempty"`
}

// NoticePeer identifies the peer that sent content.
type NoticePeer struct {
	ID          string `json:"id"`                     // the peer's id
	DisplayName string `json:"display_name,omitempty"` // its display name, when known
}

// UnmeasuredUsageAccounting names the provider and model of a turn whose
// token accounting was absent.
type UnmeasuredUsageAccounting struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// DisputedUsageAccountingIdentity contrasts the provider and model a turn
// was sent to with those its accounting named.
type DisputedUsageAccountingIdentity struct {
	ActiveProvider   string `json:"active_provider"`
	ActiveModel      string `json:"active_model"`
	ReportedProvider string `json:"reported_provider"`
	ReportedModel    string `json:"reported_model"`
}

// ---- Events ----

// RunStarted reports that an agent run started.
type RunStarted struct {
	SessionID string `json:"session_id"`
	// Input is the run's input. A legacy event's "prompt" string is mapped
	// to Input{Kind: "content", Text: prompt}.
	Input RunInput `json:"input"`
}

// UnmarshalJSON decodes the event, accepting the legacy "prompt".
func (e *RunStarted) UnmarshalJSON(data []byte) error {
	type plain RunStarted
	var aux struct {
		plain
		Input  *RunInput `json:"input"`
		Prompt *string   `json:"prompt"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = RunStarted(aux.plain)
	switch {
	case aux.Input != nil:
		e.Input = *aux.Input
	case aux.Prompt != nil:
		e.Input = RunInput{Kind: "content", Text: *aux.Prompt}
	}
	return nil
}

// RunCompleted reports that a run completed successfully.
type RunCompleted struct {
	SessionID string `json:"session_id"`
	// Result is the final assistant text.
	Result string `json:"result"`
	// Usage is the session-cumulative token usage.
	Usage EventUsage `json:"usage"`
	// StructuredOutput is the extracted structured output, when any.
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
	// ExtractionRequired says an extraction event follows.
	ExtractionRequired bool `json:"extraction_required,omitempty"`
	// TerminalCauseKind classifies how the turn ended, when reported.
	TerminalCauseKind string `json:"terminal_cause_kind,omitempty"`
}

// RunFailed reports that a run failed.
type RunFailed struct {
	SessionID string `json:"session_id"`
	// ErrorReport is the typed failure. A legacy event's "error" and
	// "error_class" are mapped to its Message and Class.
	ErrorReport AgentErrorReport `json:"error_report"`
	// TerminalCauseKind classifies how the turn ended, when reported.
	TerminalCauseKind string `json:"terminal_cause_kind,omitempty"`
}

// UnmarshalJSON decodes the event, accepting the legacy "error" and "error_class".
func (e *RunFailed) UnmarshalJSON(data []byte) error {
	type plain RunFailed
	var aux struct {
		plain
		ErrorReport *AgentErrorReport `json:"error_report"`
		Error       *string           `json:"error"`
		ErrorClass  string            `json:"error_class"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = RunFailed(aux.plain)
	switch {
	case aux.ErrorReport != nil:
		e.ErrorReport = *aux.ErrorReport
	case aux.Error != nil:
		e.ErrorReport = AgentErrorReport{Class: aux.ErrorClass, Message: *aux.Error}
	}
	return nil
}

// ExtractionSucceeded reports that structured-output extraction succeeded
// after a completed run.
type ExtractionSucceeded struct {
	SessionID        string          `json:"session_id"`
	StructuredOutput json.RawMessage `json:"structured_output"`
	SchemaWarnings   []SchemaWarning `json:"schema_warnings,omitempty"`
}

// ExtractionFailed reports that structured-output extraction failed after a
// completed run.
type ExtractionFailed struct {
	SessionID  string `json:"session_id"`
	LastOutput string `json:"last_output"` // the last output that failed validation
	Attempts   uint32 `json:"attempts"`    // extraction attempts made
	Reason     string `json:"reason"`      // why the last attempt failed
}

// HookStarted reports that a hook invocation started.
type HookStarted struct {
	HookID string `json:"hook_id"`
	// Point is the hook point, e.g. "pre_tool_execution".
	Point string `json:"point"`
}

// HookCompleted reports that a hook invocation completed.
type HookCompleted struct {
	HookID     string `json:"hook_id"`
	Point      string `json:"point"`
	DurationMS uint64 `json:"duration_ms"`
}

// HookFailed reports that a hook invocation failed.
type HookFailed struct {
	HookID string `json:"hook_id"`
	Point  string `json:"point"`
	// Reason is the typed failure. A legacy event's "error" string is
	// mapped to Reason.Message with an empty ReasonCode.
	Reason HookFailureReason `json:"reason"`
}

// UnmarshalJSON decodes the event, accepting the legacy "error".
func (e *HookFailed) UnmarshalJSON(data []byte) error {
	type plain HookFailed
	var aux struct {
		plain
		Reason *HookFailureReason `json:"reason"`
		Error  *string            `json:"error"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = HookFailed(aux.plain)
	switch {
	case aux.Reason != nil:
		if aux.Reason.ReasonCode == "" {
			return errors.New("hook_failed: reason.reason_code is required")
		}
		e.Reason = *aux.Reason
	case aux.Error != nil:
		e.Reason = HookFailureReason{Message: *aux.Error}
	}
	return nil
}

// HookDenied reports that a hook denied an action.
type HookDenied struct {
	HookID string `json:"hook_id"`
	Point  string `json:"point"`
	// ReasonCode is e.g. "policy_violation" or "safety_violation".
	ReasonCode string `json:"reason_code"`
	Message    string `json:"message"`
	// Payload is the hook's payload, verbatim; nil when absent.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// TurnStarted reports that a new turn (an LLM call) started.
type TurnStarted struct {
	TurnNumber uint32 `json:"turn_number"` // the turn's number within the run
}

// ReasoningDelta is a chunk of streamed reasoning from the model.
type ReasoningDelta struct {
	Delta string `json:"delta"`
}

// ReasoningComplete carries the whole reasoning of one block.
type ReasoningComplete struct {
	Content string `json:"content"`
}

// TextDelta is a chunk of streamed assistant text.
type TextDelta struct {
	Delta string `json:"delta"`
}

// TextComplete carries the whole assistant text of a turn.
type TextComplete struct {
	Content string `json:"content"`
}

// ServerToolContent is content of a provider-executed tool (e.g. web search).
type ServerToolContent struct {
	// ID is the provider's id for the tool call, when any.
	ID   string         `json:"id,omitempty"`
	Kind ServerToolKind `json:"kind"`
	// Content is the provider's content, verbatim.
	Content json.RawMessage `json:"content"`
}

// AssistantImageAppended reports an assistant image appended to the transcript.
type AssistantImageAppended struct {
	Image AssistantImage `json:"image"`
}

// ToolCallRequested reports that the model requested a tool call.
type ToolCallRequested struct {
	ID   string `json:"id"`   // the model's id for the call, shared by the tool_* events
	Name string `json:"name"` // the tool's name
	// Args is the arguments object, verbatim.
	Args json.RawMessage `json:"args"`
}

// ToolResultReceived reports that a tool result entered the conversation.
type ToolResultReceived struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Content ContentBlocks `json:"content"`
	IsError bool          `json:"is_error"`
}

// TurnCompleted reports that a model turn finished.
type TurnCompleted struct {
	// StopReason is "end_turn", "tool_use", "max_tokens", "stop_sequence",
	// "content_filter" or "cancelled".
	StopReason string `json:"stop_reason"`
	// Usage is the turn's usage; nil when the provider reported none (an
	// honest absence: skip it when aggregating, never count it as zero).
	Usage *EventUsage `json:"usage,omitempty"`
}

// ToolExecutionStarted reports that a tool began executing.
type ToolExecutionStarted struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ToolExecutionCompleted reports that a tool finished executing. Content
// duplicates that of the matching ToolResultReceived.
type ToolExecutionCompleted struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Content    ContentBlocks `json:"content"`
	IsError    bool          `json:"is_error"`
	DurationMS uint64        `json:"duration_ms"`
}

// ToolExecutionTimedOut reports that a tool exceeded its timeout.
type ToolExecutionTimedOut struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	TimeoutMS uint64 `json:"timeout_ms"`
}

// CompactionStarted reports that context compaction started.
type CompactionStarted struct {
	// InputTokens is the input of the LLM call that triggered compaction.
	InputTokens uint64 `json:"input_tokens"`
	// EstimatedHistoryTokens estimates the history before compaction.
	EstimatedHistoryTokens uint64 `json:"estimated_history_tokens"`
	// MessageCount is the number of messages before compaction.
	MessageCount uint64 `json:"message_count"`
}

// CompactionCompleted reports that context compaction completed.
type CompactionCompleted struct {
	SummaryTokens  uint64 `json:"summary_tokens"`
	MessagesBefore uint64 `json:"messages_before"`
	MessagesAfter  uint64 `json:"messages_after"`
}

// CompactionFailed reports that compaction failed; the agent continues
// with the uncompacted history.
type CompactionFailed struct {
	Reason CompactionFailureReason `json:"reason"`
}

// BudgetWarning reports that a budget is nearly used up.
type BudgetWarning struct {
	// BudgetType is "tokens", "time" or "tool_calls".
	BudgetType string  `json:"budget_type"`
	Used       uint64  `json:"used"`
	Limit      uint64  `json:"limit"`
	Percent    float64 `json:"percent"`
}

// Retrying reports that an LLM call is retried after a recoverable failure.
type Retrying struct {
	// Retry is the typed schedule. A legacy event's flat fields are mapped
	// into it: attempt → Plan.Attempt, max_attempts → Plan.MaxRetries,
	// delay_ms → Plan.SelectedDelayMS, error → Failure.Message.
	Retry RetrySchedule `json:"retry"`
}

// UnmarshalJSON decodes the event, accepting the legacy flat fields.
func (e *Retrying) UnmarshalJSON(data []byte) error {
	var aux struct {
		Retry       *RetrySchedule `json:"retry"`
		Attempt     *uint32        `json:"attempt"`
		MaxAttempts uint32         `json:"max_attempts"`
		Error       string         `json:"error"`
		DelayMS     uint64         `json:"delay_ms"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*e = Retrying{}
	switch {
	case aux.Retry != nil:
		e.Retry = *aux.Retry
	case aux.Attempt != nil:
		e.Retry = RetrySchedule{
			Failure: RetryFailure{Message: aux.Error},
			Plan: RetryPlan{Attempt: *aux.Attempt, MaxRetries: aux.MaxAttempts,
				ComputedDelayMS: aux.DelayMS, SelectedDelayMS: aux.DelayMS},
		}
	}
	return nil
}

// SkillsResolved reports the skills resolved for a turn.
type SkillsResolved struct {
	Skills         []SkillKey `json:"skills"`
	InjectionBytes uint64     `json:"injection_bytes"`
}

// SkillResolutionFailed reports that a skill reference could not be resolved.
type SkillResolutionFailed struct {
	Reason SkillResolutionFailureReason `json:"reason"`
	// SkillKey is the skill being resolved, when known.
	SkillKey *SkillKey `json:"skill_key,omitempty"`
}

// InteractionComplete reports that an interaction completed.
type InteractionComplete struct {
	InteractionID    string          `json:"interaction_id"`
	Result           string          `json:"result"`
	StructuredOutput json.RawMessage `json:"structured_output,omitempty"`
}

// InteractionCallbackPending reports that an interaction waits for callback
// tool results.
type InteractionCallbackPending struct {
	InteractionID string          `json:"interaction_id"`
	ToolName      string          `json:"tool_name"`
	Args          json.RawMessage `json:"args"`
	// PendingToolCalls is the complete pending set; empty from older producers.
	PendingToolCalls []PendingToolCall `json:"pending_tool_calls,omitempty"`
}

// InteractionFailed reports that an interaction failed.
type InteractionFailed struct {
	InteractionID string                   `json:"interaction_id"`
	Reason        InteractionFailureReason `json:"reason"`
}

// StreamTruncated reports that stream events were dropped (best effort; the
// terminal event stays authoritative).
type StreamTruncated struct {
	Reason StreamTruncationReason `json:"reason"`
}

// ToolConfigChanged reports a live tool configuration change in the session.
type ToolConfigChanged struct {
	Payload ToolConfigChange `json:"payload"`
}

// BackgroundJobCompleted reports that a background shell job ended.
type BackgroundJobCompleted struct {
	JobID       string `json:"job_id"`
	DisplayName string `json:"display_name"`
	// TerminalStatus is "completed", "failed", "aborted", "cancelled",
	// "retired" or "terminated".
	TerminalStatus string `json:"terminal_status"`
	Detail         string `json:"detail"`
}

// TranscriptRewriteCommitted is the 0.8.10 full-body transcript rewrite
// record, kept for compatibility; current runtimes do not emit it.
type TranscriptRewriteCommitted struct {
	SessionID string `json:"session_id"`
	// Record is the rewrite record, verbatim.
	Record json.RawMessage `json:"record"`
}

// TranscriptRewriteAuditReceiptCommitted is receipt-only evidence of a
// transcript rewrite.
type TranscriptRewriteAuditReceiptCommitted struct {
	SessionID string `json:"session_id"`
	// Receipt is the receipt batch, verbatim.
	Receipt json.RawMessage `json:"receipt"`
	// FinalAssistantText is the rewritten final assistant text, when any.
	FinalAssistantText string `json:"final_assistant_text,omitempty"`
}

// ProviderCacheBreakpointsDiscarded reports provider cache breakpoints
// discarded at a turn commit.
type ProviderCacheBreakpointsDiscarded struct {
	SessionID string `json:"session_id"`
	// Retained counts the breakpoints that still bind.
	Retained  uint64                     `json:"retained"`
	Discarded []DiscardedCacheBreakpoint `json:"discarded"`
}

// PeerContentIngested reports peer content committed into the session's context.
type PeerContentIngested struct {
	// Kind is the comms notice kind.
	Kind string `json:"kind"`
	// Peer is the sender, when known.
	Peer *NoticePeer `json:"peer,omitempty"`
	// RequestID correlates requests and responses, when any.
	RequestID string `json:"request_id,omitempty"`
	// SenderTaint is "clean" or "tainted" as the sender declared, or empty
	// when it made no declaration (which is not the same as "clean").
	SenderTaint string `json:"sender_taint,omitempty"`
}

// TurnUsageAccountingUnmeasured reports a model turn whose provider sent no
// token accounting.
type TurnUsageAccountingUnmeasured struct {
	SessionID  string                    `json:"session_id"`
	Unmeasured UnmeasuredUsageAccounting `json:"unmeasured"`
}

// TurnUsageAccountingIdentityDisputed reports a model turn whose accounting
// named a provider or model other than the one called.
type TurnUsageAccountingIdentityDisputed struct {
	SessionID string                          `json:"session_id"`
	Dispute   DisputedUsageAccountingIdentity `json:"dispute"`
}

// EventType returns "run_started".
func (*RunStarted) EventType() string { return EventTypeRunStarted }

// EventType returns "run_completed".
func (*RunCompleted) EventType() string { return EventTypeRunCompleted }

// EventType returns "run_failed".
func (*RunFailed) EventType() string { return EventTypeRunFailed }

// EventType returns "extraction_succeeded".
func (*ExtractionSucceeded) EventType() string { return EventTypeExtractionSucceeded }

// EventType returns "extraction_failed".
func (*ExtractionFailed) EventType() string { return EventTypeExtractionFailed }

// EventType returns "hook_started".
func (*HookStarted) EventType() string { return EventTypeHookStarted }

// EventType returns "hook_completed".
func (*HookCompleted) EventType() string { return EventTypeHookCompleted }

// EventType returns "hook_failed".
func (*HookFailed) EventType() string { return EventTypeHookFailed }

// EventType returns "hook_denied".
func (*HookDenied) EventType() string { return EventTypeHookDenied }

// EventType returns "turn_started".
func (*TurnStarted) EventType() string { return EventTypeTurnStarted }

// EventType returns "reasoning_delta".
func (*ReasoningDelta) EventType() string { return EventTypeReasoningDelta }

// EventType returns "reasoning_complete".
func (*ReasoningComplete) EventType() string { return EventTypeReasoningComplete }

// EventType returns "text_delta".
func (*TextDelta) EventType() string { return EventTypeTextDelta }

// EventType returns "text_complete".
func (*TextComplete) EventType() string { return EventTypeTextComplete }

// EventType returns "server_tool_content".
func (*ServerToolContent) EventType() string { return EventTypeServerToolContent }

// EventType returns "assistant_image_appended".
func (*AssistantImageAppended) EventType() string { return EventTypeAssistantImageAppended }

// EventType returns "tool_call_requested".
func (*ToolCallRequested) EventType() string { return EventTypeToolCallRequested }

// EventType returns "tool_result_received".
func (*ToolResultReceived) EventType() string { return EventTypeToolResultReceived }

// EventType returns "turn_completed".
func (*TurnCompleted) EventType() string { return EventTypeTurnCompleted }

// EventType returns "tool_execution_started".
func (*ToolExecutionStarted) EventType() string { return EventTypeToolExecutionStarted }

// EventType returns "tool_execution_completed".
func (*ToolExecutionCompleted) EventType() string { return EventTypeToolExecutionCompleted }

// EventType returns "tool_execution_timed_out".
func (*ToolExecutionTimedOut) EventType() string { return EventTypeToolExecutionTimedOut }

// EventType returns "compaction_started".
func (*CompactionStarted) EventType() string { return EventTypeCompactionStarted }

// EventType returns "compaction_completed".
func (*CompactionCompleted) EventType() string { return EventTypeCompactionCompleted }

// EventType returns "compaction_failed".
func (*CompactionFailed) EventType() string { return EventTypeCompactionFailed }

// EventType returns "budget_warning".
func (*BudgetWarning) EventType() string { return EventTypeBudgetWarning }

// EventType returns "retrying".
func (*Retrying) EventType() string { return EventTypeRetrying }

// EventType returns "skills_resolved".
func (*SkillsResolved) EventType() string { return EventTypeSkillsResolved }

// EventType returns "skill_resolution_failed".
func (*SkillResolutionFailed) EventType() string { return EventTypeSkillResolutionFailed }

// EventType returns "interaction_complete".
func (*InteractionComplete) EventType() string { return EventTypeInteractionComplete }

// EventType returns "interaction_callback_pending".
func (*InteractionCallbackPending) EventType() string { return EventTypeInteractionCallbackPending }

// EventType returns "interaction_failed".
func (*InteractionFailed) EventType() string { return EventTypeInteractionFailed }

// EventType returns "stream_truncated".
func (*StreamTruncated) EventType() string { return EventTypeStreamTruncated }

// EventType returns "tool_config_changed".
func (*ToolConfigChanged) EventType() string { return EventTypeToolConfigChanged }

// EventType returns "background_job_completed".
func (*BackgroundJobCompleted) EventType() string { return EventTypeBackgroundJobCompleted }

// EventType returns "transcript_rewrite_committed".
func (*TranscriptRewriteCommitted) EventType() string { return EventTypeTranscriptRewriteCommitted }

// EventType returns "transcript_rewrite_audit_receipt_committed".
func (*TranscriptRewriteAuditReceiptCommitted) EventType() string {
	return EventTypeTranscriptRewriteAuditReceiptCommitted
}

// EventType returns "provider_cache_breakpoints_discarded".
func (*ProviderCacheBreakpointsDiscarded) EventType() string {
	return EventTypeProviderCacheBreakpointsDiscarded
}

// EventType returns "peer_content_ingested".
func (*PeerContentIngested) EventType() string { return EventTypePeerContentIngested }

// EventType returns "turn_usage_accounting_unmeasured".
func (*TurnUsageAccountingUnmeasured) EventType() string {
	return EventTypeTurnUsageAccountingUnmeasured
}

// EventType returns "turn_usage_accounting_identity_disputed".
func (*TurnUsageAccountingIdentityDisputed) EventType() string {
	return EventTypeTurnUsageAccountingIdentityDisputed
}

// ---- Validation beyond JSON types ----

func (e *ToolCallRequested) validate() error { return evRequireObject("args", e.Args) }

func (e *ServerToolContent) validate() error { return evRequireTag("kind.kind", e.Kind.Kind) }

func (e *CompactionFailed) validate() error { return evRequireTag("reason.kind", e.Reason.Kind) }

func (e *InteractionFailed) validate() error { return evRequireTag("reason.kind", e.Reason.Kind) }

func (e *StreamTruncated) validate() error { return evRequireTag("reason.kind", e.Reason.Kind) }

func (e *SkillResolutionFailed) validate() error {
	return evRequireTag("reason.reason_type", e.Reason.ReasonType)
}

func (e *ToolConfigChanged) validate() error {
	return evRequireTag("payload.operation", e.Payload.Operation)
}

func (e *RunFailed) validate() error {
	if e.ErrorReport.Class == "" && e.ErrorReport.Message == "" {
		return errors.New("error_report needs class and message")
	}
	return nil
}

func evRequireObject(field string, v json.RawMessage) error {
	if len(v) == 0 || v[0] != '{' {
		return fmt.Errorf("field %q must be an object", field)
	}
	return nil
}

func evRequireTag(field, v string) error {
	if v == "" {
		return fmt.Errorf("field %q is required", field)
	}
	return nil
}

// ---- The inventory ----

// knownEventTypes is the contract's inventory, in AgentEvent schema order.
var knownEventTypes = []string{
	EventTypeRunStarted,
	EventTypeRunCompleted,
	EventTypeExtractionSucceeded,
	EventTypeExtractionFailed,
	EventTypeRunFailed,
	EventTypeHookStarted,
	EventTypeHookCompleted,
	EventTypeHookFailed,
	EventTypeHookDenied,
	EventTypeTurnStarted,
	EventTypeReasoningDelta,
	EventTypeReasoningComplete,
	EventTypeTextDelta,
	EventTypeTextComplete,
	EventTypeServerToolContent,
	EventTypeAssistantImageAppended,
	EventTypeToolCallRequested,
	EventTypeToolResultReceived,
	EventTypeTurnCompleted,
	EventTypeToolExecutionStarted,
	EventTypeToolExecutionCompleted,
	EventTypeToolExecutionTimedOut,
	EventTypeCompactionStarted,
	EventTypeCompactionCompleted,
	EventTypeCompactionFailed,
	EventTypeBudgetWarning,
	EventTypeRetrying,
	EventTypeSkillsResolved,
	EventTypeSkillResolutionFailed,
	EventTypeInteractionComplete,
	EventTypeInteractionCallbackPending,
	EventTypeInteractionFailed,
	EventTypeStreamTruncated,
	EventTypeToolConfigChanged,
	EventTypeBackgroundJobCompleted,
	EventTypeTranscriptRewriteCommitted,
	EventTypeTranscriptRewriteAuditReceiptCommitted,
	EventTypeProviderCacheBreakpointsDiscarded,
	EventTypePeerContentIngested,
	EventTypeTurnUsageAccountingUnmeasured,
	EventTypeTurnUsageAccountingIdentityDisputed,
}

// eventSpec says how to type one payload type.
type eventSpec struct {
	name string
	// required lists the fields the schema requires (besides "type"); they
	// must be present and not null.
	required []string
	// nullable lists required fields whose schema admits any value, null included.
	nullable []string
	// legacy maps a required field to the older field that may stand in for it.
	legacy map[string]string
	// decode unmarshals the payload into the typed event.
	decode func([]byte) (Event, error)
}

// checkRequired reports the first required field missing from ms.
func (s *eventSpec) checkRequired(ms []evMember) error {
	for _, f := range s.required {
		i := evFind(ms, f)
		if i >= 0 && (!evIsNull(ms[i].val) || slices.Contains(s.nullable, f)) {
			continue
		}
		if alt, has := s.legacy[f]; has {
			if j := evFind(ms, alt); j >= 0 && !evIsNull(ms[j].val) {
				continue
			}
		}
		if i >= 0 {
			return fmt.Errorf("required field %q is null", f)
		}
		return fmt.Errorf("missing required field %q", f)
	}
	return nil
}

// decodeEventAs unmarshals a payload into a new T.
func decodeEventAs[T any, P interface {
	*T
	Event
}](data []byte) (Event, error) {
	p := P(new(T))
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeRunCompleted decodes run_completed, whose result holds the whole
// answer of a turn, however long.
func decodeRunCompleted(data []byte) (Event, error) {
	return decodeRunCompletedKnown(data, "")
}

// decodeRunCompletedKnown is decodeRunCompleted with the turn's text, when
// it is long and already known, shared with the result.
func decodeRunCompletedKnown(data []byte, text string) (Event, error) {
	ev := new(RunCompleted)
	if err := unmarshalLong(data, ev, "result", text, func(s string) { ev.Result = s }); err != nil {
		return nil, err
	}
	return ev, nil
}

// eventSpecs holds the spec of every type in the inventory.
var eventSpecs = map[string]*eventSpec{}

func init() {
	add := func(name string, decode func([]byte) (Event, error), required ...string) *eventSpec {
		s := &eventSpec{name: name, required: required, decode: decode}
		eventSpecs[name] = s
		return s
	}
	add(EventTypeRunStarted, decodeEventAs[RunStarted], "session_id", "input").
		legacy = map[string]string{"input": "prompt"}
	add(EventTypeRunCompleted, decodeRunCompleted, "session_id", "result", "usage")
	add(EventTypeExtractionSucceeded, decodeEventAs[ExtractionSucceeded], "session_id", "structured_output").
		nullable = []string{"structured_output"}
	add(EventTypeExtractionFailed, decodeEventAs[ExtractionFailed], "session_id", "last_output", "attempts", "reason")
	add(EventTypeRunFailed, decodeEventAs[RunFailed], "session_id", "error_report").
		legacy = map[string]string{"error_report": "error"}
	add(EventTypeHookStarted, decodeEventAs[HookStarted], "hook_id", "point")
	add(EventTypeHookCompleted, decodeEventAs[HookCompleted], "hook_id", "point", "duration_ms")
	add(EventTypeHookFailed, decodeEventAs[HookFailed], "hook_id", "point", "reason").
		legacy = map[string]string{"reason": "error"}
	add(EventTypeHookDenied, decodeEventAs[HookDenied], "hook_id", "point", "reason_code", "message")
	add(EventTypeTurnStarted, decodeEventAs[TurnStarted], "turn_number")
	add(EventTypeReasoningDelta, decodeEventAs[ReasoningDelta], "delta")
	add(EventTypeReasoningComplete, decodeEventAs[ReasoningComplete], "content")
	add(EventTypeTextDelta, decodeEventAs[TextDelta], "delta")
	add(EventTypeTextComplete, decodeEventAs[TextComplete], "content")
	add(EventTypeServerToolContent, decodeEventAs[ServerToolContent], "kind", "content").
		nullable = []string{"content"}
	add(EventTypeAssistantImageAppended, decodeEventAs[AssistantImageAppended], "image")
	add(EventTypeToolCallRequested, decodeEventAs[ToolCallRequested], "id", "name", "args")
	add(EventTypeToolResultReceived, decodeEventAs[ToolResultReceived], "id", "name", "content", "is_error")
	add(EventTypeTurnCompleted, decodeEventAs[TurnCompleted], "stop_reason")
	add(EventTypeToolExecutionStarted, decodeEventAs[ToolExecutionStarted], "id", "name")
	add(EventTypeToolExecutionCompleted, decodeEventAs[ToolExecutionCompleted], "id", "name", "content", "is_error", "duration_ms")
	add(EventTypeToolExecutionTimedOut, decodeEventAs[ToolExecutionTimedOut], "id", "name", "timeout_ms")
	add(EventTypeCompactionStarted, decodeEventAs[CompactionStarted], "input_tokens", "estimated_history_tokens", "message_count")
	add(EventTypeCompactionCompleted, decodeEventAs[CompactionCompleted], "summary_tokens", "messages_before", "messages_after")
	add(EventTypeCompactionFailed, decodeEventAs[CompactionFailed], "reason")
	add(EventTypeBudgetWarning, decodeEventAs[BudgetWarning], "budget_type", "used", "limit", "percent")
	add(EventTypeRetrying, decodeEventAs[Retrying], "retry").
		legacy = map[string]string{"retry": "attempt"}
	add(EventTypeSkillsResolved, decodeEventAs[SkillsResolved], "skills", "injection_bytes")
	add(EventTypeSkillResolutionFailed, decodeEventAs[SkillResolutionFailed], "reason")
	add(EventTypeInteractionComplete, decodeEventAs[InteractionComplete], "interaction_id", "result")
	add(EventTypeInteractionCallbackPending, decodeEventAs[InteractionCallbackPending], "interaction_id", "tool_name", "args").
		nullable = []string{"args"}
	add(EventTypeInteractionFailed, decodeEventAs[InteractionFailed], "interaction_id", "reason")
	add(EventTypeStreamTruncated, decodeEventAs[StreamTruncated], "reason")
	add(EventTypeToolConfigChanged, decodeEventAs[ToolConfigChanged], "payload")
	add(EventTypeBackgroundJobCompleted, decodeEventAs[BackgroundJobCompleted], "job_id", "display_name", "terminal_status", "detail")
	add(EventTypeTranscriptRewriteCommitted, decodeEventAs[TranscriptRewriteCommitted], "session_id", "record")
	add(EventTypeTranscriptRewriteAuditReceiptCommitted, decodeEventAs[TranscriptRewriteAuditReceiptCommitted], "session_id", "receipt")
	add(EventTypeProviderCacheBreakpointsDiscarded, decodeEventAs[ProviderCacheBreakpointsDiscarded], "session_id", "retained", "discarded")
	add(EventTypePeerContentIngested, decodeEventAs[PeerContentIngested], "kind")
	add(EventTypeTurnUsageAccountingUnmeasured, decodeEventAs[TurnUsageAccountingUnmeasured], "session_id", "unmeasured")
	add(EventTypeTurnUsageAccountingIdentityDisputed, decodeEventAs[TurnUsageAccountingIdentityDisputed], "session_id", "dispute")
}
