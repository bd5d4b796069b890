package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/mobd-dev/mobd/mob"
)

// change is a client command that makes one change through the API and
// says what it did.
type change struct {
	// args names the positional arguments, for errors.
	args []string
	// method and path are the request's; path's %s take the first
	// positional arguments, path-escaped, in order.
	method, path string
	// body builds the request's JSON body (nil: none) from the positional
	// arguments and the command's flag value.
	body func(cmd string, pos []string, flag string) any
	// flag, when set, is the command's own string flag and its help.
	flag, flagHelp string
	// confirm makes the command refuse to run without --yes.
	confirm bool
	// done says what was done, from the positional arguments and the
	// answer.
	done func(pos []string, answer json.RawMessage) string
}

func noBody(string, []string, string) any { return struct{}{} }

func peerBody(_ string, pos []string, _ string) any { return map[string]string{"peer": pos[2]} }

func lifecycleBody(cmd string, _ []string, _ string) any { return map[string]string{"action": cmd} }

func lifecycleChange(past string) change {
	return change{args: []string{"MOB"}, method: http.MethodPost, path: "/v1/mobs/%s/lifecycle", body: lifecycleBody,
		done: func(pos []string, _ json.RawMessage) string { return "mob " + pos[0] + " " + past }}
}

// changes are the client commands that make one change.
var changes = map[string]change{
	"retire": {args: []string{"MOB", "MEMBER"}, method: http.MethodDelete, path: "/v1/mobs/%s/members/%s",
		done: func(pos []string, _ json.RawMessage) string {
			return "member " + pos[1] + " of mob " + pos[0] + " retired"
		}},
	"respawn": {args: []string{"MOB", "MEMBER"}, method: http.MethodPost, path: "/v1/mobs/%s/members/%s/respawn", body: noBody,
		done: func(pos []string, answer json.RawMessage) string {
			var m mob.MemberInfo
			_ = json.Unmarshal(answer, &m)
			return fmt.Sprintf("member %s of mob %s respawned on session %s", pos[1], pos[0], m.SessionID)
		}},
	"wire": {args: []string{"MOB", "MEMBER", "PEER"}, method: http.MethodPost, path: "/v1/mobs/%s/members/%s/wire", body: peerBody,
		done: func(pos []string, _ json.RawMessage) string {
			return pos[1] + " and " + pos[2] + " of mob " + pos[0] + " wired"
		}},
	"unwire": {args: []string{"MOB", "MEMBER", "PEER"}, method: http.MethodPost, path: "/v1/mobs/%s/members/%s/unwire", body: peerBody,
		done: func(pos []string, _ json.RawMessage) string {
			return pos[1] + " and " + pos[2] + " of mob " + pos[0] + " unwired"
		}},
	"cancel": {args: []string{"MOB", "RUN"}, method: http.MethodPost, path: "/v1/mobs/%s/runs/%s/cancel",
		flag: "reason", flagHelp: "why the run is canceled (recorded in its events)",
		body: func(_ string, _ []string, reason string) any { return map[string]string{"reason": reason} },
		done: func(pos []string, answer json.RawMessage) string {
			var st struct {
				Status string `json:"status"`
			}
			_ = json.Unmarshal(answer, &st)
			return fmt.Sprintf("run %s of mob %s canceled; run is %s", pos[1], pos[0], st.Status)
		}},
	"stop":     lifecycleChange("stopped"),
	"resume":   lifecycleChange("resumed"),
	"complete": lifecycleChange("completed"),
	"archive": {args: []string{"SESSION"}, method: http.MethodPost, path: "/v1/sessions/%s/archive", body: noBody,
		done: func(pos []string, _ json.RawMessage) string { return "session " + pos[0] + " archived" }},
	"destroy": {args: []string{"MOB"}, method: http.MethodDelete, path: "/v1/mobs/%s", confirm: true,
		done: func(pos []string, _ json.RawMessage) string { return "mob " + pos[0] + " destroyed" }},
}

// cmdChange runs the change command cmd.
func cmdChange(ctx context.Context, cmd string, c change, args []string, stdout io.Writer) error {
	f := newCLIFlags(cmd)
	var flagValue *string
	if c.flag != "" {
		flagValue = f.fs.String(c.flag, "", c.flagHelp)
	}
	confirmed := new(bool)
	if c.confirm {
		confirmed = f.fs.Bool("yes", false, "confirm a change that cannot be undone")
	}
	pos, err := f.parse(args, len(c.args))
	if err != nil {
		return err
	}
	if c.confirm && !*confirmed {
		return fmt.Errorf("%w: mobd %s cannot be undone; add --yes to confirm", errUsage, cmd)
	}
	n := strings.Count(c.path, "%s")
	escaped := make([]any, n)
	for i := range n {
		escaped[i] = seg(pos[i])
	}
	path := fmt.Sprintf(c.path, escaped...)
	var body []byte
	ctype := ""
	if c.body != nil {
		v := ""
		if flagValue != nil {
			v = *flagValue
		}
		if body, err = json.Marshal(c.body(cmd, pos, v)); err != nil {
			return err
		}
		ctype = "application/json"
	}
	raw, err := f.client().do(ctx, c.method, path, ctype, body)
	if err != nil {
		return err
	}
	if f.json() {
		if len(raw) == 0 {
			raw = json.RawMessage(`{}`)
		}
		return printJSON(stdout, raw)
	}
	fmt.Fprintln(stdout, c.done(pos, raw))
	return nil
}
