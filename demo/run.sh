#!/usr/bin/env bash
# demo/run.sh is what `make run` does once everything is built:
#
#   1. start `mobd serve` in the background (rkat-sim runtimes by default),
#      with its state in $STATE and its logs in $STATE/mobd.log;
#   2. apply the demo mob definition (demo/briefing.toml) with `mobd apply`;
#   3. spawn its members with `mobd spawn`;
#   4. run its flow with `mobd run … --follow`, which shows the steps live
#      and then the outputs;
#   5. leave the daemon up, print its URL, and stop it gracefully on Ctrl-C.
#
# Every step is an ordinary mobd command: copy them to drive a daemon by
# hand. Run it again and it reuses the state: the mob and its members come
# back from the journal and the flow runs once more.
#
# Settings (environment): BIN (where mobd and rkat-sim are, default ./bin),
# RUNTIME (sim or rkat-rpc, default sim), ADDR (default 127.0.0.1:7878),
# STATE (default ./.mobd/$RUNTIME), COUNTRY (the flow's param, default
# France), DELAY (rkat-sim's per-token delay, default 25ms), LOG_LEVEL
# (default info).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${BIN:-$here/../bin}
RUNTIME=${RUNTIME:-sim}
ADDR=${ADDR:-127.0.0.1:7878}
STATE=${STATE:-.mobd/$RUNTIME}
COUNTRY=${COUNTRY:-France}
DELAY=${DELAY:-25ms}
LOG_LEVEL=${LOG_LEVEL:-info}
MOB=briefing
mobd=$BIN/mobd

export MOBD_ADDR=$ADDR
unset MOBD_TOKEN
if [ "$RUNTIME" = sim ]; then
	# Read by the rkat-sim runtimes, which inherit mobd's environment.
	export RKAT_SIM_TOKEN_DELAY=$DELAY
	export RKAT_SIM_SCRIPT=$here/sim/briefing-script.json
fi

say() {
	if [ -t 1 ]; then
		printf '\033[1m%s\033[0m\n' "$*"
	else
		printf '%s\n' "$*"
	fi
}

if "$mobd" mobs >/dev/null 2>&1; then
	echo "something already answers on $ADDR (an earlier \`make run\`?): stop it, or pick another address with ADDR=127.0.0.1:7879" >&2
	exit 1
fi

mkdir -p "$STATE"
log=$STATE/mobd.log
say "▶ mobd serve --runtime $RUNTIME --listen $ADDR --state $STATE   (logs: $log)"
# Job control only for this command: the daemon gets a process group of
# its own, so a Ctrl-C in the terminal reaches this script and not the
# daemon and its runtimes; the script then stops the daemon with one
# SIGTERM, and the daemon stops its runtimes itself, letting turns in flight
# finish.
set -m
"$mobd" serve --runtime "$RUNTIME" --listen "$ADDR" --state "$STATE" \
	--log-format console --log-level "$LOG_LEVEL" >>"$log" 2>&1 &
pid=$!
set +m

# stopped waits for the daemon to exit and exits with its status. A
# Ctrl-C meanwhile is passed on: the daemon's second signal forces it.
stopped() {
	trap 'kill -INT "$pid" 2>/dev/null || true' INT
	trap '' TERM HUP
	local code
	while :; do
		code=0
		wait "$pid" || code=$?
		kill -0 "$pid" 2>/dev/null || break # else a Ctrl-C interrupted the wait
	done
	exited "$code"
}
# exited reports the daemon's exit status $1 and exits with it.
exited() {
	if [ "$1" -eq 0 ]; then
		say "mobd stopped"
	else
		echo "mobd exited with status $1; its log: $log" >&2
	fi
	exit "$1"
}
on_signal() {
	echo
	say "stopping mobd gracefully (Ctrl-C again forces it)"
	kill -TERM "$pid" 2>/dev/null || true
	stopped
}
# fail stops the daemon after a failed step and shows the end of its log.
fail() {
	echo "$*" >&2
	trap '' INT TERM HUP
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	echo "--- last lines of $log:" >&2
	tail -n 20 "$log" >&2
	exit 1
}
trap on_signal INT TERM HUP

# Wait until the API answers (the runtimes are up by then). rkat-rpc may
# first be downloaded: give it longer.
wait_s=30
[ "$RUNTIME" = sim ] || wait_s=180
for _ in $(seq 1 $((wait_s * 10))); do
	if ! kill -0 "$pid" 2>/dev/null; then
		fail "mobd serve did not start"
	fi
	if "$mobd" mobs >/dev/null 2>&1; then
		break
	fi
	sleep 0.1
done
"$mobd" mobs >/dev/null 2>&1 || fail "mobd did not answer on $ADDR within ${wait_s}s"

# ok_if runs a mobd command; an error whose code is $1 is fine (the mob or
# member came back from the state of an earlier run).
ok_if() {
	local code=$1
	shift
	local out
	if out=$("$mobd" "$@" 2>&1); then
		echo "$out"
	elif [[ $out == *"$code"* ]]; then
		echo "(already there: recovered from $STATE)"
	else
		fail "mobd $*: $out"
	fi
}

say "▶ mobd apply -f demo/briefing.toml"
ok_if mob_exists apply -f "$here/briefing.toml"
say "▶ mobd spawn $MOB …"
ok_if duplicate_member spawn "$MOB" lead --id lead
ok_if duplicate_member spawn "$MOB" researcher --id researcher-1
ok_if duplicate_member spawn "$MOB" researcher --id researcher-2
ok_if duplicate_member spawn "$MOB" writer --id writer
"$mobd" mob "$MOB" || fail "mobd mob $MOB failed"

params=$(printf '{"country":"%s"}' "$COUNTRY")
say "▶ mobd run $MOB brief --params '$params' --follow"
"$mobd" run "$MOB" brief --params "$params" --follow || fail "the run did not complete"

echo
say "mobd is up at http://$ADDR ($RUNTIME runtimes, state in $STATE)."
say "Open the console at http://$ADDR/console/ (the token, if you set one, is asked once). Try:"
cat <<EOF
  $mobd run $MOB brief --params '{"country":"Japan"}' --follow
  $mobd runs $MOB
  $mobd events --mob $MOB --follow
  curl -s http://$ADDR/v1/runtimes
  curl -s http://$ADDR/metrics | grep ^mobd_
Ctrl-C stops it.
EOF
# A signal ends the script through on_signal; past this wait the daemon
# stopped without one of ours (a signal sent to it directly).
code=0
wait "$pid" || code=$?
exited "$code"
