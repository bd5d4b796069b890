package flows_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mobd-dev/mobd/flows"
)

// addFiles seeds a fuzz target with files; more seeds live in
// testdata/fuzz/<FuzzName>.
func addFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzLoadJSON: loading never panics, and whatever loads writes JSON that
// loads back into an equal model.
func FuzzLoadJSON(f *testing.F) {
	addFiles(f, "testdata/good/*.json")
	addFiles(f, "testdata/bad/*.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := flows.LoadJSON(data)
		if err != nil {
			if d != nil {
				t.Fatal("definition returned with an error")
			}
			return
		}
		out, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		again, err := flows.LoadJSON(out)
		if err != nil {
			t.Fatalf("reload of %s: %v", out, err)
		}
		if !reflect.DeepEqual(d, again) {
			t.Fatalf("round trip differs for %s", out)
		}
		for _, fl := range d.Flows {
			if _, err := fl.Plan(); err != nil {
				t.Fatalf("a loaded flow does not plan: %v", err)
			}
		}
	})
}

// FuzzLoadTOML: loading TOML never panics.
func FuzzLoadTOML(f *testing.F) {
	addFiles(f, "testdata/good/*.toml")
	addFiles(f, "testdata/bad/*.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := flows.LoadTOML(data)
		if err == nil {
			if _, err := d.MarshalJSON(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseTemplate: parsing and rendering never panic, and a parsed
// template's source parses to the same references.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "plain", "{{ params.topic }}", "{{ steps.sum.output.items.0.id }}", "{{", "}}", "{{ }}",
		"{{ loops.polish.iterations.0.steps.critique.notes }}", "{{ a {{ b }} }}", "x {{ steps.raw.deep.v.1 }} y"} {
		f.Add(s)
	}
	sc := scope()
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := flows.ParseTemplate(s)
		if err != nil {
			return
		}
		_, _ = tm.Render(sc)
		again, err := flows.ParseTemplate(tm.String())
		if err != nil || !reflect.DeepEqual(again.References(), tm.References()) {
			t.Fatalf("reparse of %q: %v", s, err)
		}
	})
}
