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
	"syscall"
)

// errHelp is the error of -h.
var errHelp = flag.ErrHelp

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
              --cacert (MOBD_CACERT: the CA of a self-signed or private certificate), -o text|json
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd == "serve" {
		return serve(rest, stdout, stderr)
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return 0
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
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "mobd %s: %v\n\n%s", cmd, err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "mobd %s: %v\n", cmd, err)
		return 1
	}
}
