package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Block is one content block of a multimodal prompt or tool result.
// Blocks are tagged by Type: "text", "image" or "video". Use the
// constructors ([TextBlock], [ImageBlock], [ImageBlobBlock], [VideoBlock],
// [VideoURIBlock]) rather than filling the struct by hand.
type Block struct {
	// Type is "text", "image" or "video".
	Type string `json:"type"`
	// Text is the text of a "text" block.
	Text string `json:"text,omitempty"`
	// MediaType is the MIME type of an image or video, e.g. "image/png".
	MediaType string `json:"media_type,omitempty"`
	// Source says where media bytes live: "inline", "blob" or "uri".
	Source string `json:"source,omitempty"`
	// Data is base64-encoded media when Source is "inline".
	Data string `json:"data,omitempty"`
	// BlobID names a stored blob when Source is "blob".
	BlobID string `json:"blob_id,omitempty"`
	// URI locates the media when Source is "uri".
	URI string `json:"uri,omitempty"`
	// DurationMS is a video's duration in milliseconds. The contract
	// requires it on every video block, so it is sent even when 0.
	DurationMS uint64 `json:"duration_ms,omitempty"`
}

// TextBlock returns a text content block.
func TextBlock(text string) Block { return Block{Type: "text", Text: text} }

// ImageBlock returns an inline image block; data is base64-encoded.
func ImageBlock(mediaType, data string) Block {
	return Block{Type: "image", MediaType: mediaType, Source: "inline", Data: data}
}

// ImageBlobBlock returns an image block that refers to a stored blob.
func ImageBlobBlock(mediaType, blobID string) Block {
	return Block{Type: "image", MediaType: mediaType, Source: "blob", BlobID: blobID}
}

// VideoBlock returns an inline video block; data is base64-encoded.
func VideoBlock(mediaType string, durationMS uint64, data string) Block {
	return Block{Type: "video", MediaType: mediaType, DurationMS: durationMS, Source: "inline", Data: data}
}

// VideoURIBlock returns a video block that refers to media by URI.
func VideoURIBlock(mediaType string, durationMS uint64, uri string) Block {
	return Block{Type: "video", MediaType: mediaType, DurationMS: durationMS, Source: "uri", URI: uri}
}

// validate reports whether the block can be sent as it is, following the
// contract's ContentBlock: a text block; an image from inline data or a
// stored blob; a video, with its duration, from inline data or a URI.
func (b Block) validate() error {
	switch b.Type {
	case "text":
		return nil
	case "image", "video":
		if b.MediaType == "" {
			return fmt.Errorf("%s block: media_type is required", b.Type)
		}
		switch b.Source {
		case "", "inline":
			if b.Data == "" {
				return fmt.Errorf("%s block: inline data is empty", b.Type)
			}
		case "blob":
			if b.Type == "video" {
				return errors.New("video block: source must be inline or uri (the contract has no video blobs)")
			}
			if b.BlobID == "" {
				return fmt.Errorf("%s block: blob_id is required", b.Type)
			}
		case "uri":
			if b.Type == "image" {
				return errors.New("image block: source must be inline or blob (the contract has no image URIs)")
			}
			if b.URI == "" {
				return fmt.Errorf("%s block: uri is required", b.Type)
			}
		default:
			return fmt.Errorf("%s block: unknown source %q", b.Type, b.Source)
		}
		return nil
	case "":
		return errors.New("block: type is required")
	default:
		return fmt.Errorf("block: unknown type %q", b.Type)
	}
}

// MarshalJSON writes the block in the contract's wire form: only the
// members of its type, each required member always present (a text
// block's "text" even when empty, a video's "duration_ms" even when 0),
// and inline media with an explicit "source":"inline", as the runtime
// expects, even when Source was left empty. A block of another type is
// written with its non-empty fields.
func (b Block) MarshalJSON() ([]byte, error) {
	type plain Block
	switch b.Type {
	case "text":
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{b.Type, b.Text})
	case "image", "video":
		media := struct {
			Type       string  `json:"type"`
			MediaType  string  `json:"media_type"`
			DurationMS *uint64 `json:"duration_ms,omitempty"`
			Source     string  `json:"source"`
			Data       *string `json:"data,omitempty"`
			BlobID     *string `json:"blob_id,omitempty"`
			URI        *string `json:"uri,omitempty"`
		}{Type: b.Type, MediaType: b.MediaType, Source: b.Source}
		if b.Type == "video" {
			media.DurationMS = &b.DurationMS
		}
		switch b.Source {
		case "", "inline":
			media.Source, media.Data = "inline", &b.Data
		case "blob":
			media.BlobID = &b.BlobID
		case "uri":
			media.URI = &b.URI
		}
		return json.Marshal(media)
	}
	return json.Marshal(plain(b))
}

// Content is a prompt or message: plain text, or a list of content blocks
// for multimodal input. The zero value is the empty text prompt. Build one
// with [Text] or [Blocks].
type Content struct {
	text   string
	blocks []Block
}

// Text returns a plain-text Content.
func Text(s string) Content { return Content{text: s} }

// Blocks returns a multimodal Content made of the given blocks.
func Blocks(blocks ...Block) Content {
	if blocks == nil {
		blocks = []Block{}
	}
	return Content{blocks: blocks}
}

// IsBlocks reports whether c is a block list rather than plain text.
func (c Content) IsBlocks() bool { return c.blocks != nil }

// String returns the text of c: the plain text, or the text blocks joined.
func (c Content) String() string {
	if c.blocks == nil {
		return c.text
	}
	var s string
	for _, b := range c.blocks {
		if b.Type == "text" {
			s += b.Text
		}
	}
	return s
}

// BlockList returns the blocks of c; a plain-text Content yields one text block.
func (c Content) BlockList() []Block {
	if c.blocks == nil {
		return []Block{TextBlock(c.text)}
	}
	return append([]Block(nil), c.blocks...)
}

// Validate reports an [ErrInvalidArgs] error when a block is malformed.
func (c Content) Validate() error {
	for i, b := range c.blocks {
		if err := b.validate(); err != nil {
			return fmt.Errorf("%w: content block %d: %v", ErrInvalidArgs, i, err)
		}
	}
	return nil
}

// MarshalJSON encodes c as a JSON string or an array of blocks.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.blocks == nil {
		return json.Marshal(c.text)
	}
	return json.Marshal(c.blocks)
}

// UnmarshalJSON accepts a JSON string or an array of blocks.
func (c *Content) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*c = Content{text: s}
		return nil
	}
	var bs []Block
	if err := json.Unmarshal(data, &bs); err != nil {
		return fmt.Errorf("content: want a string or an array of blocks: %w", err)
	}
	*c = Blocks(bs...)
	return nil
}

// Usage is token usage as the runtime reports it.
type Usage struct {
	InputTokens         uint64  `json:"input_tokens"`
	OutputTokens        uint64  `json:"output_tokens"`
	TotalTokens         uint64  `json:"total_tokens,omitempty"`
	CacheCreationTokens *uint64 `json:"cache_creation_tokens,omitempty"`
	CacheReadTokens     *uint64 `json:"cache_read_tokens,omitempty"`
}

// Total returns TotalTokens, or input plus output when the runtime left it zero.
func (u Usage) Total() uint64 {
	if u.TotalTokens != 0 {
		return u.TotalTokens
	}
	return u.InputTokens + u.OutputTokens
}

// Add returns the sum of u and v, the cache counters included: a cache
// counter of the sum is nil when both are nil, and otherwise the sum of
// those present.
func (u Usage) Add(v Usage) Usage {
	return Usage{
		InputTokens:         u.InputTokens + v.InputTokens,
		OutputTokens:        u.OutputTokens + v.OutputTokens,
		TotalTokens:         u.Total() + v.Total(),
		CacheCreationTokens: addCounters(u.CacheCreationTokens, v.CacheCreationTokens),
		CacheReadTokens:     addCounters(u.CacheReadTokens, v.CacheReadTokens),
	}
}

// addCounters adds two optional counters; nil when both are absent.
func addCounters(a, b *uint64) *uint64 {
	if a == nil && b == nil {
		return nil
	}
	var n uint64
	if a != nil {
		n += *a
	}
	if b != nil {
		n += *b
	}
	return &n
}

// SkillKey names a skill structurally: the UUID of its source and its name.
type SkillKey struct {
	SourceUUID string `json:"source_uuid"`
	SkillName  string `json:"skill_name"`
}

// String returns "source_uuid/skill_name".
func (k SkillKey) String() string { return k.SourceUUID + "/" + k.SkillName }

// SkillKeyError reports a string skill reference [ParseSkillKey] could not
// read. It wraps [ErrInvalidArgs].
type SkillKeyError struct {
	// Ref is the reference as given.
	Ref string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *SkillKeyError) Error() string {
	return fmt.Sprintf("rpc: invalid skill reference %q: %s", e.Ref, e.Reason)
}

// Unwrap returns ErrInvalidArgs.
func (e *SkillKeyError) Unwrap() error { return ErrInvalidArgs }

// ParseSkillKey reads a legacy string skill reference of the form
// "<source_uuid>/<skill_name>", which the Python SDK's invoke_skill accepts
// besides a SkillKey. One leading "/" is ignored; the source is everything
// up to the first "/" after it and the name everything after that, so the
// name may itself contain "/". Both parts must be non-empty. The source is
// not checked to be a UUID (the runtime decides what names a source). A
// reference that does not have this form is a [*SkillKeyError], which
// wraps [ErrInvalidArgs].
func ParseSkillKey(ref string) (SkillKey, error) {
	s := strings.TrimPrefix(ref, "/")
	source, name, ok := strings.Cut(s, "/")
	switch {
	case !ok:
		return SkillKey{}, &SkillKeyError{Ref: ref, Reason: `want "<source_uuid>/<skill_name>"`}
	case source == "":
		return SkillKey{}, &SkillKeyError{Ref: ref, Reason: "the source uuid is empty"}
	case name == "":
		return SkillKey{}, &SkillKeyError{Ref: ref, Reason: "the skill name is empty"}
	}
	return SkillKey{SourceUUID: source, SkillName: name}, nil
}

// validate reports whether both parts are set.
func (k SkillKey) validate() error {
	if k.SourceUUID == "" || k.SkillName == "" {
		return fmt.Errorf("%w: skill key needs source_uuid and skill_name (got %q)", ErrInvalidArgs, k.String())
	}
	return nil
}

// skillRef is the tagged wire form of a SkillKey used by skill_refs.
type skillRef struct {
	Kind       string `json:"kind"`
	SourceUUID string `json:"source_uuid"`
	SkillName  string `json:"skill_name"`
}

func skillRefs(keys []SkillKey) ([]skillRef, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out := make([]skillRef, len(keys))
	for i, k := range keys {
		if err := k.validate(); err != nil {
			return nil, err
		}
		out[i] = skillRef{Kind: "structured", SourceUUID: k.SourceUUID, SkillName: k.SkillName}
	}
	return out, nil
}
