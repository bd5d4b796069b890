// Command mobd is the mob daemon and its command-line client.
//
// `mobd serve` runs the daemon: mobs of LLM agents on supervised runtime
// processes (the real rkat-rpc, or rkat-sim with --runtime sim), an HTTP
// API under /v1 with live events over SSE, /healthz, /readyz and /metrics.
// The other subcommands talk to a running daemon (address and token from
// --addr/--token or MOBD_ADDR/MOBD_TOKEN, and --cacert or MOBD_CACERT for
// a daemon serving HTTPS with a private CA's certificate):
//
//	mobd apply -f def.toml                  create a mob from a definition
//	mobd mobs | mob ID | members MOB | runs MOB
//	mobd spawn MOB PROFILE [--id NAME] | retire|respawn MOB MEMBER
//	mobd wire|unwire MOB MEMBER PEER
//	mobd run MOB FLOW --params '{…}' --follow
//	mobd events [--mob M] [--run R] [--follow]
//	mobd send MOB MEMBER TEXT
//	mobd approve|reject MOB RUN STEP [--comment C]
//	mobd cancel MOB RUN | stop|resume|complete MOB | destroy MOB --yes
//	mobd ask PROMPT | turn SESSION PROMPT | sessions | session SESSION | archive SESSION
//
// Every client command takes -o json for the API's JSON.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// errHelp is the error of -h.
var errHelp = flag.ErrHelp

// clientFlags names the flags every client command takes (each takes a
// value), which may come before the command too.
var clientFlags = map[string]bool{"addr": true, "token": true, "cacert": true, "o": true}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// leadingFlags reads the client flags that come before the command in
// args (`mobd --addr X mobs`) and returns the command and its arguments,
// those flags first. Another flag there is an error that says where it
// goes.
func leadingFlags(args []string) (cmd string, rest []string, err error) {
	var lead []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || isHelp(a) {
			return a, append(lead, args[i+1:]...), nil
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if a == "--" || !clientFlags[name] {
			return "", nil, fmt.Errorf("%w: %s before the command: only the client flags --addr, --token, --cacert and -o "+
				"may come before it; the others go after it (mobd COMMAND [flags])", errUsage, a)
		}
		lead = append(lead, a)
		if !hasValue {
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("%w: flag %s needs a value", errUsage, a)
			}
			i++
			lead = append(lead, args[i])
		}
	}
	return "", nil, fmt.Errorf("%w: no command after the flags %s (mobd help lists the commands)", errUsage, strings.Join(lead, " "))
}

const usage = `mobd — the mob daemon and its client

  mobd serve [flags]                      run the daemon (mobd serve -h for flags)
  mobd apply -f FILE                      create a mob from a Meerkat definition (JSON or TOML)
  mobd mobs                               list mobs
  mobd mob MOB                            a mob's status and members
  mobd members MOB                        a mob's members
  mobd spawn MOB PROFILE [--id NAME]      spawn a member
  mobd retire|respawn MOB MEMBER          retire a member, or give it a fresh session
  mobd wire|unwire MOB MEMBER PEER        wire two members, or unwire them
  mobd run MOB FLOW [--params JSON] [--run-id ID] [--follow]
                                          start a flow run; --follow shows its steps live, then its outputs
  mobd runs MOB                           a mob's runs
  mobd cancel MOB RUN [--reason TEXT]     cancel a run
  mobd stop|resume|complete MOB           stop a mob (no new runs or messages), resume it, or complete it
  mobd destroy MOB --yes                  destroy a mob and delete its journal
  mobd events [--mob M] [--member M] [--run R] [--session S] [--after N] [--follow]
  mobd send MOB MEMBER TEXT [--from M]    message a member and print its answer
  mobd approve|reject MOB RUN STEP [--comment C] [--by NAME]
  mobd ask PROMPT [--model M] [--provider P] [--system TEXT]
                                          start a session outside any mob and print its answer
  mobd turn SESSION PROMPT                run a turn on a session, streaming its text
  mobd sessions                           the sessions of the realm, and their state
  mobd session SESSION [--messages N]     a session's status and its last messages
  mobd archive SESSION                    archive a session

Client flags: --addr (MOBD_ADDR, default 127.0.0.1:7878; https://HOST:PORT for TLS), --token (MOBD_TOKEN),
              --cacert (MOBD_CACERT: the CA of a self-signed or private certificate), -o text|json;
              after the command or before it (mobd --addr HOST:PORT mobs); a command's own flags go after it
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if strings.HasPrefix(cmd, "-") && !isHelp(cmd) {
		// Client flags before the command: `mobd --addr X mobs`.
		var err error
		if cmd, rest, err = leadingFlags(args); err != nil {
			fmt.Fprintf(stderr, "mobd: %v\n", err)
			return 2
		}
		if cmd == "serve" {
			fmt.Fprintf(stderr, "mobd serve: the client flags (--addr, --token, --cacert, -o) are not serve's; "+
				"serve's flags go after it (mobd serve -h for them)\n")
			return 2
		}
	}
	if cmd == "help" || isHelp(cmd) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cmd == "serve" {
		return serve(rest, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runClient(ctx, cmd, rest, stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		var he *helpError
		if errors.As(err, &he) {
			fmt.Fprint(stdout, he.text)
		}
		return 0
	case errors.Is(err, errUnknownCommand):
		fmt.Fprintf(stderr, "mobd: %v\nmobd help lists the commands\n", err)
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mobd %s: %v\n\n%s\nmobd %s -h shows its flags\n", cmd, err, synopsis(cmd), cmd)
		return 2
	default:
		fmt.Fprintf(stderr, "mobd %s: %v\n", cmd, err)
		return 1
	}
}
