package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mobd-dev/mobd/mob"
)

// errUsage marks a bad command line.
var errUsage = errors.New("usage")

// cliFlags are the flags every client command takes.
type cliFlags struct {
	fs     *flag.FlagSet
	addr   *string
	token  *string
	cacert *string
	output *string
	roots  *x509.CertPool // from cacert, set by parse
}

func newCLIFlags(name string) *cliFlags {
	fs := flag.NewFlagSet("mobd "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := os.Getenv("MOBD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:7878"
	}
	return &cliFlags{
		fs:   fs,
		addr: fs.String("addr", addr, "daemon address (env MOBD_ADDR)"),
		// The token's default is read when it is used: -h would print it.
		token:  fs.String("token", "", "bearer token (default: env MOBD_TOKEN)"),
		cacert: fs.String("cacert", os.Getenv("MOBD_CACERT"), "PEM file of the CA that signed an https daemon's certificate (env MOBD_CACERT)"),
		output: fs.String("o", "text", "output: text or json"),
	}
}

// parse parses flags anywhere among the positional arguments and checks
// their count.
func (f *cliFlags) parse(args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, f.help()
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != positional {
		return nil, fmt.Errorf("%w: want %d arguments, got %d", errUsage, positional, len(pos))
	}
	if *f.output != "text" && *f.output != "json" {
		return nil, fmt.Errorf("%w: -o %q: want text or json", errUsage, *f.output)
	}
	if *f.cacert != "" {
		pem, err := os.ReadFile(*f.cacert)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		f.roots = x509.NewCertPool()
		if !f.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificate in it", *f.cacert)
		}
	}
	return pos, nil
}

// helpError answers -h: its text is the command's synopsis and flags.
type helpError struct{ text string }

func (e *helpError) Error() string { return e.text }

// Unwrap makes a helpError match flag.ErrHelp.
func (e *helpError) Unwrap() error { return flag.ErrHelp }

// synopsis returns the command's lines of the usage text.
func synopsis(name string) string {
	var b strings.Builder
	mine := false
	for _, line := range strings.Split(usage, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) > 1 && fields[0] == "mobd":
			mine = slices.Contains(strings.Split(fields[1], "|"), name)
		case !strings.HasPrefix(line, "      "): // not a continuation line
			mine = false
		}
		if mine {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// help returns the command's help: its lines of the usage text, then its
// flags.
func (f *cliFlags) help() error {
	var b strings.Builder
	b.WriteString(synopsis(strings.TrimPrefix(f.fs.Name(), "mobd ")))
	b.WriteString("\nflags:\n")
	f.fs.SetOutput(&b)
	f.fs.PrintDefaults()
	f.fs.SetOutput(io.Discard)
	return &helpError{text: b.String()}
}

func (f *cliFlags) client() *client {
	token := *f.token
	if token == "" {
		token = os.Getenv("MOBD_TOKEN")
	}
	c := newClient(*f.addr, token)
	if f.roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: f.roots, MinVersion: tls.VersionTLS12}
		c.http.Transport = tr
	}
	return c
}

func (f *cliFlags) json() bool { return *f.output == "json" }

// printJSON writes raw JSON indented.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		_, err = w.Write(raw)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// commands are the client subcommands, but for the change commands.
var commands = map[string]func(ctx context.Context, args []string, stdout io.Writer) error{
	"apply":    cmdApply,
	"mobs":     cmdMobs,
	"mob":      cmdMob,
	"members":  cmdMembers,
	"run":      cmdRun,
	"runs":     cmdRuns,
	"events":   cmdEvents,
	"send":     cmdSend,
	"spawn":    cmdSpawn,
	"sessions": cmdSessions,
	"session":  cmdSession,
	"ask":      cmdAsk,
	"turn":     cmdTurn,
	"approve": func(ctx context.Context, args []string, stdout io.Writer) error {
		return cmdDecide(ctx, true, args, stdout)
	},
	"reject": func(ctx context.Context, args []string, stdout io.Writer) error {
		return cmdDecide(ctx, false, args, stdout)
	},
}

// runClient runs a client subcommand.
func runClient(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	if run, ok := commands[cmd]; ok {
		return run(ctx, args, stdout)
	}
	if c, ok := changes[cmd]; ok {
		return cmdChange(ctx, cmd, c, args, stdout)
	}
	return fmt.Errorf("%w %q", errUnknownCommand, cmd)
}

// errUnknownCommand is the error of a command mobd does not have.
var errUnknownCommand = fmt.Errorf("%w: unknown command", errUsage)

func cmdApply(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("apply")
	file := f.fs.String("f", "", "definition file (.json or .toml)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%w: -f FILE is required", errUsage)
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	ct := "application/json"
	if strings.EqualFold(filepath.Ext(*file), ".toml") {
		ct = "application/toml"
	}
	raw, err := f.client().do(ctx, http.MethodPost, "/v1/mobs", ct, data)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	var st mobStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mob %s created (%s); flows: %s\n", st.ID, st.State, listOr(st.Flows, ", ", "none"))
	return nil
}

// mobStatus is the part of the API's MobStatus the CLI shows.
type mobStatus struct {
	ID         string           `json:"id"`
	State      string           `json:"state"`
	Members    int              `json:"members"`
	Flows      []string         `json:"flows"`
	ActiveRuns int              `json:"active_runs"`
	Runs       int              `json:"runs"`
	MemberList []mob.MemberInfo `json:"member_list"`
}

func cmdMobs(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("mobs")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	var mobs []mobStatus
	raw, err := f.client().getJSON(ctx, "/v1/mobs", &mobs)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MOB\tSTATE\tMEMBERS\tACTIVE RUNS\tRUNS\tFLOWS")
	for _, m := range mobs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\n", m.ID, m.State, m.Members, m.ActiveRuns, m.Runs, listOr(m.Flows, ",", "-"))
	}
	return tw.Flush()
}

func cmdMob(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("mob")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	var st mobStatus
	raw, err := f.client().getJSON(ctx, "/v1/mobs/"+seg(pos[0]), &st)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	fmt.Fprintf(stdout, "mob %s: %s, %d members, %d runs (%d active), flows: %s\n",
		st.ID, st.State, st.Members, st.Runs, st.ActiveRuns, listOr(st.Flows, ", ", "none"))
	return printMembers(stdout, st.MemberList)
}

func printMembers(w io.Writer, ms []mob.MemberInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tPROFILE\tSTATUS\tTURNS\tPENDING\tPEERS")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", m.Identity, m.Profile, m.Status, m.Turns, m.Pending, listOr(m.Peers, ",", "-"))
	}
	return tw.Flush()
}

func cmdMembers(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("members")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	var ms []mob.MemberInfo
	raw, err := f.client().getJSON(ctx, "/v1/mobs/"+seg(pos[0])+"/members", &ms)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	return printMembers(stdout, ms)
}

type runSummary struct {
	RunID     string `json:"run_id"`
	FlowID    string `json:"flow_id"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	StartedAt string `json:"started_at"`
	EndedAt   string `json:"ended_at"`
}

func cmdRuns(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("runs")
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	var runs []runSummary
	raw, err := f.client().getJSON(ctx, "/v1/mobs/"+seg(pos[0])+"/runs", &runs)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFLOW\tSTATUS\tSTARTED\tENDED\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.RunID, r.FlowID, r.Status, r.StartedAt, r.EndedAt, oneLine(r.Reason))
	}
	return tw.Flush()
}

func cmdSend(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("send")
	from := f.fs.String("from", "", "sending member (default: outside the mob)")
	pos, err := f.parse(args, 3)
	if err != nil {
		return err
	}
	var resp struct {
		Answer struct {
			Text string `json:"text"`
		} `json:"answer"`
	}
	path := "/v1/mobs/" + seg(pos[0]) + "/members/" + seg(pos[1]) + "/send"
	raw, err := f.client().postJSON(ctx, path, map[string]string{"text": pos[2], "from": *from}, &resp)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	fmt.Fprintln(stdout, resp.Answer.Text)
	return nil
}

func cmdDecide(ctx context.Context, approved bool, args []string, stdout io.Writer) error {
	name := "reject"
	if approved {
		name = "approve"
	}
	f := newCLIFlags(name)
	comment := f.fs.String("comment", "", "comment recorded with the decision")
	by := f.fs.String("by", os.Getenv("USER"), "approver name")
	pos, err := f.parse(args, 3)
	if err != nil {
		return err
	}
	path := "/v1/mobs/" + seg(pos[0]) + "/runs/" + seg(pos[1]) + "/steps/" + seg(pos[2]) + "/decision"
	var snap runSummary
	raw, err := f.client().postJSON(ctx, path, map[string]any{"approved": approved, "by": *by, "comment": *comment}, &snap)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	past := "rejected"
	if approved {
		past = "approved"
	}
	fmt.Fprintf(stdout, "step %s of run %s %s; run is %s\n", pos[2], pos[1], past, snap.Status)
	return nil
}

func cmdSpawn(ctx context.Context, args []string, stdout io.Writer) error {
	f := newCLIFlags("spawn")
	id := f.fs.String("id", "", "member identity (default: the profile name, then profile-2, …)")
	pos, err := f.parse(args, 2)
	if err != nil {
		return err
	}
	var m mob.MemberInfo
	raw, err := f.client().postJSON(ctx, "/v1/mobs/"+seg(pos[0])+"/members",
		map[string]string{"profile": pos[1], "agent_identity": *id}, &m)
	if err != nil {
		return err
	}
	if f.json() {
		return printJSON(stdout, raw)
	}
	fmt.Fprintf(stdout, "member %s (%s) spawned; peers: %s\n", m.Identity, m.Profile, listOr(m.Peers, ", ", "none"))
	return nil
}

// oneLine returns s with its runs of white space (tabs and line breaks in
// a runtime's stderr, quoted in a failure) as single spaces, for a table
// cell.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// listOr joins xs with sep, or is none when xs is empty, so that an empty
// list reads as one rather than as a missing value.
func listOr(xs []string, sep, none string) string {
	if len(xs) == 0 {
		return none
	}
	return strings.Join(xs, sep)
}
