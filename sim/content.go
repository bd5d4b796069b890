package sim

import (
	"encoding/json"
	"strings"
)

// contentInput is a validated prompt: a plain string or an array of content
// blocks, kept in canonical wire form.
type contentInput struct {
	raw    json.RawMessage // canonical JSON (string or block array)
	text   string          // text the model reads (text blocks joined by newlines)
	images int
	videos int
}

// wireBlock is the union of the content block fields the contract defines.
type wireBlock struct {
	Type       string          `json:"type"`
	Text       *string         `json:"text,omitempty"`
	MediaType  *string         `json:"media_type,omitempty"`
	Source     *string         `json:"source,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	BlobID     *string         `json:"blob_id,omitempty"`
	URI        *string         `json:"uri,omitempty"`
	DurationMS *uint64         `json:"duration_ms,omitempty"`
}

// textContent builds a contentInput for plain text.
func textContent(s string) *contentInput {
	return &contentInput{raw: jsonString(s), text: s}
}

// parseContent validates raw as ContentInput. field names the parameter in
// error messages.
func parseContent(raw json.RawMessage, field string) (*contentInput, *rpcError) {
	switch jsonKind(raw) {
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalidParams("Invalid params: %s: %v", field, err)
		}
		return textContent(s), nil
	case "array":
	case "", "null":
		return nil, invalidParams("Invalid params: missing field `%s`", field)
	default:
		return nil, invalidParams("Invalid params: %s must be a string or an array of content blocks", field)
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, invalidParams("Invalid params: %s: %v", field, err)
	}
	out := &contentInput{}
	texts := make([]string, 0, len(blocks))
	canon := make([]wireBlock, 0, len(blocks))
	for i, b := range blocks {
		c, err := canonicalBlock(b)
		if err != "" {
			return nil, invalidParams("Invalid params: %s[%d]: %s", field, i, err)
		}
		switch b.Type {
		case "text":
			texts = append(texts, *b.Text)
		case "image":
			out.images++
		case "video":
			out.videos++
		}
		canon = append(canon, c)
	}
	out.text = strings.Join(texts, "\n")
	out.raw = mustMarshal(canon)
	return out, nil
}

// canonicalBlock validates one block and returns it with only the fields
// its variant defines; the second result is an error description.
func canonicalBlock(b wireBlock) (wireBlock, string) {
	str := func(p *string, name string) string {
		if p == nil {
			return "missing field `" + name + "`"
		}
		return ""
	}
	switch b.Type {
	case "text":
		if e := str(b.Text, "text"); e != "" {
			return b, e
		}
		return wireBlock{Type: "text", Text: b.Text}, ""
	case "image":
		if e := str(b.MediaType, "media_type"); e != "" {
			return b, e
		}
		out := wireBlock{Type: "image", MediaType: b.MediaType, Source: b.Source}
		switch {
		case b.Source == nil:
			return b, "missing field `source`"
		case *b.Source == "inline":
			if jsonKind(b.Data) != "string" {
				return b, "inline image needs string `data`"
			}
			out.Data = b.Data
		case *b.Source == "blob":
			if e := str(b.BlobID, "blob_id"); e != "" {
				return b, e
			}
			out.BlobID = b.BlobID
		default:
			return b, "unknown image source `" + *b.Source + "`"
		}
		return out, ""
	case "video":
		if e := str(b.MediaType, "media_type"); e != "" {
			return b, e
		}
		if b.DurationMS == nil {
			return b, "missing field `duration_ms`"
		}
		out := wireBlock{Type: "video", MediaType: b.MediaType, DurationMS: b.DurationMS, Source: b.Source}
		switch {
		case b.Source == nil:
			return b, "missing field `source`"
		case *b.Source == "inline":
			if jsonKind(b.Data) != "string" {
				return b, "inline video needs string `data`"
			}
			out.Data = b.Data
		case *b.Source == "uri":
			if e := str(b.URI, "uri"); e != "" {
				return b, e
			}
			out.URI = b.URI
		default:
			return b, "unknown video source `" + *b.Source + "`"
		}
		return out, ""
	case "structured":
		if len(b.Data) == 0 {
			return b, "missing field `data`"
		}
		return wireBlock{Type: "structured", Data: b.Data}, ""
	case "":
		return b, "missing field `type`"
	default:
		return b, "unknown content block type `" + b.Type + "`"
	}
}

// textBlocks returns a content block array holding one text block.
func textBlocks(s string) json.RawMessage {
	return mustMarshal([]wireBlock{{Type: "text", Text: &s}})
}

// wordCount counts whitespace-separated words.
func wordCount(s string) int { return len(strings.Fields(s)) }
