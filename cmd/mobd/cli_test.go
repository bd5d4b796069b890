package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandHelp checks that -h on a client command prints its synopsis
// and its flags, and never the token from the environment.
func TestCommandHelp(t *testing.T) {
	t.Setenv("MOBD_TOKEN", "token-from-env")
	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"cancel", "-h"}, []string{"mobd cancel MOB RUN [--reason TEXT]", "-reason string", "-token string"}, []string{"-yes"}},
		{[]string{"destroy", "--help"}, []string{"mobd destroy MOB --yes", "-yes"}, nil},
		{[]string{"run", "-h"}, []string{"mobd run MOB FLOW", "start a flow run; --follow shows", "-follow"}, []string{"mobd runs"}},
		{[]string{"approve", "-h"}, []string{"mobd approve|reject MOB RUN STEP", "-comment string"}, nil},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 0 || stderr.Len() > 0 {
			t.Errorf("mobd %s: exit %d, stderr %q", strings.Join(c.args, " "), code, stderr.String())
		}
		out := stdout.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("mobd %s: no %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		for _, w := range append(c.not, "token-from-env") {
			if strings.Contains(out, w) {
				t.Errorf("mobd %s: %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}
}
