package flows_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mobd-dev/mobd/flows"
)

func scope() flows.Scope {
	return flows.Scope{
		Params: map[string]any{"topic": "billing", "n": json.Number("3"), "tags": []any{"a", "b"}, "html": "<b>&</b>"},
		Steps: map[string]any{
			"scan":   "issue #42",
			"sum":    map[string]any{"severity": "high", "count": 2.0, "items": []any{map[string]any{"id": "x"}}, "none": nil},
			"raw":    json.RawMessage(`{"deep":{"v":[1,2]}}`),
			"number": 7.5,
		},
		Loops: map[string][]map[string]any{
			"polish": {{"draft": "v1", "critique": map[string]any{"notes": "tighten"}}, {"draft": "v2"}},
		},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	cases := []struct{ tmpl, want string }{
		{"plain text", "plain text"},
		{"", ""},
		{"Topic: {{ params.topic }}", "Topic: billing"},
		{"{{params.topic}}{{  params.topic  }}", "billingbilling"},
		{"n={{ params.n }} tags={{ params.tags }}", `n=3 tags=["a","b"]`},
		{"{{ params.tags.1 }}", "b"},
		{"{{ params.html }}", "<b>&</b>"},
		{"{{ params }}", `{"html":"<b>&</b>","n":3,"tags":["a","b"],"topic":"billing"}`},
		{"{{ steps.scan }} / {{ steps.scan.output }}", "issue #42 / issue #42"},
		{"{{ steps.sum.output.severity }}={{ steps.sum.severity }}", "high=high"},
		{"{{ steps.sum.count }} {{ steps.sum.items.0.id }} {{ steps.sum.none }}", "2 x null"},
		{"{{ steps.sum.items }}", `[{"id":"x"}]`},
		{"{{ steps.raw.deep.v.1 }} {{ steps.raw.output.deep }}", `2 {"v":[1,2]}`},
		{"{{ steps.number }}", "7.5"},
		{"not yet: {{ steps.later.output.x.y }}", "not yet: null"},
		{"{{ loops.polish.iterations.0.steps.critique.notes }}", "tighten"},
		{"{{ loops.polish.iterations.1.steps.draft }}", "v2"},
		{"{{ loops.polish.iterations.1.steps.critique }} {{ loops.polish.iterations.5.steps.draft }} {{ loops.other.iterations.0.steps.x }}", "null null null"},
		{"braces } }} { alone", "braces } }} { alone"},
		{"{{ params.topic }}}", "billing}"},
	}
	for _, c := range cases {
		tm, err := flows.ParseTemplate(c.tmpl)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", c.tmpl, err)
			continue
		}
		got, err := tm.Render(scope())
		if err != nil || got != c.want {
			t.Errorf("Render(%q) = %q, %v; want %q", c.tmpl, got, err, c.want)
		}
		if tm.String() != c.tmpl {
			t.Errorf("String() = %q", tm.String())
		}
	}
}

// Rendering fails closed: a missing field under a present value, or an
// index into a scalar.
func TestRenderFailsClosed(t *testing.T) {
	t.Parallel()
	cases := []struct{ tmpl, at string }{
		{"{{ params.missing }}", "missing"},
		{"{{ params.topic.length }}", "length"},
		{"{{ steps.scan.output.x }}", "x"},
		{"{{ steps.sum.severity.level }}", "level"},
		{"{{ steps.sum.none.x }}", "x"},
		{"{{ steps.sum.items.9 }}", "9"},
		{"{{ steps.sum.items.first }}", "first"},
		{"{{ steps.number.x }}", "x"},
		{"{{ loops.polish.iterations.0.steps.critique.score }}", "score"},
	}
	for _, c := range cases {
		tm, err := flows.ParseTemplate(c.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		_, err = tm.Render(scope())
		var te *flows.TemplateError
		var pe *flows.PathError
		if !errors.As(err, &te) || !errors.As(err, &pe) || !errors.Is(err, flows.ErrTemplate) || !errors.Is(err, flows.ErrPath) {
			t.Errorf("%q: err = %v", c.tmpl, err)
			continue
		}
		if pe.At != c.at {
			t.Errorf("%q: failed at %q, want %q", c.tmpl, pe.At, c.at)
		}
	}
	tm, _ := flows.ParseTemplate("{{ steps.bad.x }}")
	if _, err := tm.Render(flows.Scope{Steps: map[string]any{"bad": json.RawMessage(`{`)}}); err == nil {
		t.Error("invalid raw JSON in the scope rendered")
	}
}

func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		tmpl   string
		offset int
		msg    string
	}{
		{"a {{ params.x", 2, `unclosed "{{"`},
		{"{{", 0, `unclosed "{{"`},
		{"x {{ }}", 2, "empty placeholder"},
		{"{{ a {{ b }} }}", 0, `"{{" inside a placeholder`},
		{"{{ env.HOME }}", 0, `unknown root "env"`},
		{"ok {{ params.a }} {{ step.a }}", 18, `unknown root "step"`},
		{"{{ steps }}", 0, "steps needs a step id"},
		{"{{ params..a }}", 0, "empty segment"},
		{"{{ params.a b }}", 0, "space or brace"},
		{"{{ loops.l.iterations.x.steps.s }}", 0, "not a non-negative integer"},
		{"{{ loops.l.iterations.01.steps.s }}", 0, "not a non-negative integer"},
		{"{{ loops.l.steps.s }}", 0, "want loops.<loop>.iterations.<n>.steps.<id>"},
	}
	for _, c := range cases {
		_, err := flows.ParseTemplate(c.tmpl)
		var te *flows.TemplateError
		if !errors.As(err, &te) || !errors.Is(err, flows.ErrTemplate) {
			t.Errorf("%q: err = %v", c.tmpl, err)
			continue
		}
		if te.Offset != c.offset || !strings.Contains(te.Msg, c.msg) {
			t.Errorf("%q: offset %d msg %q; want %d, %q", c.tmpl, te.Offset, te.Msg, c.offset, c.msg)
		}
	}
}

func TestTemplateReferences(t *testing.T) {
	t.Parallel()
	tm, err := flows.ParseTemplate("{{ params.a }} and {{steps.b.output.c}}")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tm.References(), []string{"params.a", "steps.b.output.c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("References() = %v", got)
	}
}

// Placeholders render inside text blocks; other blocks pass through.
func TestRenderMultimodal(t *testing.T) {
	t.Parallel()
	img, err := flows.RawBlock([]byte(`{"type":"image","media_type":"image/png","source":"inline","data":"{{ params.topic }}"}`))
	if err != nil {
		t.Fatal(err)
	}
	msg := flows.Blocks(flows.TextBlock("Look at {{ steps.scan }}"), img, flows.TextBlock("severity {{ steps.sum.severity }}"))
	got, err := msg.Render(scope())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	want := `[{"type":"text","text":"Look at issue #42"},{"data":"{{ params.topic }}","media_type":"image/png","source":"inline","type":"image"},{"type":"text","text":"severity high"}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if _, err := flows.Blocks(flows.TextBlock("{{ params.nope }}")).Render(scope()); err == nil {
		t.Error("missing field in a text block rendered")
	}
	if _, err := flows.Blocks(flows.TextBlock("{{ oops")).Render(scope()); err == nil {
		t.Error("bad template in a text block rendered")
	}
	text, err := flows.Text("{{ params.topic }}").Render(scope())
	if err != nil || text.Text != "billing" || text.IsBlocks() {
		t.Errorf("text message: %+v %v", text, err)
	}
	tmpls, err := msg.Templates()
	if err != nil || len(tmpls) != 2 {
		t.Errorf("Templates: %d %v", len(tmpls), err)
	}
	if _, err := flows.RawBlock([]byte(`{"text":"no type"}`)); err == nil {
		t.Error("block without a type accepted")
	}
}
