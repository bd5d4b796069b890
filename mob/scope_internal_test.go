package mob

import (
	"fmt"
	"testing"
)

// innermostLoop reads a frame key back into its innermost loop and
// iteration, and refuses anything else.
func TestInnermostLoop(t *testing.T) {
	t.Parallel()
	for frame, want := range map[string]string{
		"": "", "polish#0": "polish 0", "outer#2/inner#11": "inner 11", "outer#2/bad": "", "x#y": "",
	} {
		loop, it, ok := innermostLoop(frame)
		got := ""
		if ok {
			got = fmt.Sprintf("%s %d", loop, it)
		}
		if got != want {
			t.Errorf("innermostLoop(%q) = %q, want %q", frame, got, want)
		}
	}
}
