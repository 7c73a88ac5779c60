#!/usr/bin/env bash
# Node side of the Airflow scheduler watchdog (SPEC §7): start, stop or report the scheduler's systemd
# unit on one node. The project's SSM Command documents (schemaVersion 2.2, aws:runShellScript) embed
# this file; each document sets the action (WATCHDOG_ACTION=start|stop|status) and passes its
# parameters as environment variables (interpolationType ENV_VAR), never as shell text.
#
# Contract (functions/core/node-protocol.ts; test/node pins it; `--print-contract` prints it):
#   action      WATCHDOG_ACTION, else $1: start | stop | status
#   parameters  SSM_Epoch     ^[0-9]{1,12}$            required for start/stop, optional for status
#               SSM_UnitName  ^[A-Za-z0-9@._-]{1,64}$  required
#   tunables    WATCHDOG_STATE_DIR            (default /var/lib/airflow-scheduler-watchdog)
#               WATCHDOG_STOP_TIMEOUT_SECONDS (default 30) bound on `systemctl stop` before SIGKILL
#               WATCHDOG_START_TIMEOUT_SECONDS (default 30) bound on `systemctl start`
#               WATCHDOG_LOCK_TIMEOUT_SECONDS (default 20) wait for another command on this node
#               WATCHDOG_KILL_WAIT_SECONDS    (default 5)  wait for the unit to go down after SIGKILL
#               WATCHDOG_HOSTNAME_OVERRIDE    (tests and the local simulator only)
#   exit codes  0 ok, 64 bad parameter, 65 stale epoch, 70 stop failed, 71 start failed, 75 busy
#   stdout      progress lines, then always (once the action is known) one JSON line:
#               {"action","result","epoch","nodeEpoch","running","hostname","unit"}
#
# Fencing: $WATCHDOG_STATE_DIR/epoch holds the highest epoch this node has seen. start/stop with a
# lower epoch are refused (exit 65, `STALE_EPOCH node=<n> command=<c>` on stderr) and change nothing;
# otherwise the epoch is stored (atomically) before acting. Commands serialise on
# $WATCHDOG_STATE_DIR/lock (flock). status reads only: it neither locks, stores nor refuses.
#
# Needs bash, coreutils (timeout, sleep, mv, mkdir), util-linux (flock), systemctl; python3 optional.

# The SSM agent runs `sh -c <file>`: a first line that is not this shebang (a prefix such as
# `WATCHDOG_ACTION=start`) makes /bin/sh run the file itself. Hand over to bash in that case.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -Eeuo pipefail
set +o posix
export LC_ALL=C
umask 027

readonly EXIT_OK=0
readonly EXIT_BAD_PARAMETER=64
readonly EXIT_STALE_EPOCH=65
readonly EXIT_STOP_FAILED=70
readonly EXIT_START_FAILED=71
readonly EXIT_BUSY=75

readonly EPOCH_PATTERN='^[0-9]{1,12}$'
readonly UNIT_NAME_PATTERN='^[A-Za-z0-9@._-]{1,64}$'
readonly SECONDS_PATTERN='^[0-9]{1,6}$'

# Airflow 2.4+'s default [core] hostname_callable, airflow.utils.net.getfqdn: gethostname()
# canonicalised with getaddrinfo(AI_CANONNAME). Not socket.getfqdn(), which can differ.
readonly GETFQDN_PY='
import socket
name = socket.gethostname()
try:
    infos = socket.getaddrinfo(name, None, 0, socket.SOCK_DGRAM, 0, socket.AI_CANONNAME)
except OSError:
    infos = []
for info in infos:
    if info[3]:
        name = info[3]
        break
print(name)
'

ACTION=''
UNIT=''
EPOCH=''
NODE_EPOCH=''
STATE_DIR=''
REPORTED=0
UNIT_STATE=''
UNIT_ACTIVE=false

log() { printf 'airflow-scheduler.sh %s: %s\n' "${ACTION:-?}" "$*"; }
warn() { printf 'airflow-scheduler.sh %s: %s\n' "${ACTION:-?}" "$*" >&2; }

# JSON string body: escapes backslash, quote and the usual control characters, drops the others.
# (A loop rather than ${s//…/…}: quoting in pattern replacements differs across bash 4.2–5.2.)
json_escape() {
  local s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      \\) out+=$'\\\\' ;;
      '"') out+=$'\\"' ;;
      $'\n') out+=$'\\n' ;;
      $'\r') out+=$'\\r' ;;
      $'\t') out+=$'\\t' ;;
      [[:cntrl:]]) ;;
      *) out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

print_contract() {
  printf '{"params":{"Epoch":"%s","UnitName":"%s"},' \
    "$(json_escape "$EPOCH_PATTERN")" "$(json_escape "$UNIT_NAME_PATTERN")"
  printf '"exit":{"ok":%d,"badParameter":%d,"staleEpoch":%d,"stopFailed":%d,"startFailed":%d,"busy":%d}}\n' \
    "$EXIT_OK" "$EXIT_BAD_PARAMETER" "$EXIT_STALE_EPOCH" "$EXIT_STOP_FAILED" "$EXIT_START_FAILED" "$EXIT_BUSY"
}

node_hostname() {
  local name=''
  if [[ -n ${WATCHDOG_HOSTNAME_OVERRIDE:-} ]]; then
    printf '%s' "$WATCHDOG_HOSTNAME_OVERRIDE"
    return 0
  fi
  if command -v python3 >/dev/null 2>&1; then
    name=$(timeout 10 python3 -I -S -c "$GETFQDN_PY" 2>/dev/null) || name=''
  fi
  if [[ -z $name ]] && command -v hostname >/dev/null 2>&1; then
    name=$(hostname 2>/dev/null) || name=''
  fi
  if [[ -z $name ]]; then
    name=$(uname -n 2>/dev/null) || name=''
  fi
  printf '%s' "$name"
}

# The last stdout line. epoch/nodeEpoch are normalised decimals (no leading zeros) or null.
report() {
  local result=$1 running=$2 host
  host=$(node_hostname)
  printf '{"action":"%s","result":"%s","epoch":%s,"nodeEpoch":%s,"running":%s,"hostname":"%s","unit":"%s"}\n' \
    "$ACTION" "$(json_escape "$result")" "${EPOCH:-null}" "${NODE_EPOCH:-null}" "$running" \
    "$(json_escape "$host")" "$(json_escape "$UNIT")"
  REPORTED=1
}

finish() {
  report "$1" "$2"
  exit "$3"
}

bad_parameter() {
  warn "BAD_PARAMETER $*"
  finish bad-parameter false "$EXIT_BAD_PARAMETER"
}

# An unexpected failure still ends stdout with a report (result "error"); the exit status is kept.
on_exit() {
  local rc=$?
  trap - ERR
  set +e
  if ((REPORTED == 0)) && [[ -n $ACTION ]]; then
    warn "unexpected failure (exit $rc)"
    if [[ -n $UNIT ]]; then query_unit; fi
    report error "$UNIT_ACTIVE"
  fi
}

on_err() {
  warn "command failed at line $1: $2"
}

# Every systemctl call closes fd 9 (the node lock) so nothing it spawns can inherit the lock.
sysctl() {
  systemctl "$@" 9>&-
}

# Sets UNIT_STATE (systemctl's word, '' if it said nothing) and UNIT_ACTIVE (`is-active` exit 0).
query_unit() {
  local out rc=0
  out=$(sysctl is-active -- "$UNIT" 2>/dev/null) || rc=$?
  UNIT_STATE=${out%%$'\n'*}
  if ((rc == 0)); then UNIT_ACTIVE=true; else UNIT_ACTIVE=false; fi
}

unit_is_down() {
  query_unit
  [[ $UNIT_ACTIVE == false ]] && [[ $UNIT_STATE == inactive || $UNIT_STATE == failed || $UNIT_STATE == unknown ]]
}

# wait_down <seconds>: polls until the unit is inactive/failed.
wait_down() {
  local tries=$(($1 * 5))
  while ! unit_is_down; do
    ((tries-- > 0)) || return 1
    sleep 0.2
  done
}

show_status() {
  sysctl status --no-pager --full --lines=20 -- "$UNIT" >&2 2>&1 || true
}

kill_unit() {
  sysctl kill --signal=SIGKILL -- "$UNIT" >/dev/null 2>&1 || true
}

read_node_epoch() {
  local file=$STATE_DIR/epoch value=''
  NODE_EPOCH=''
  [[ -e $file ]] || return 0
  IFS= read -r value <"$file" || true
  if [[ $value =~ $EPOCH_PATTERN ]]; then
    NODE_EPOCH=$((10#$value))
  else
    warn "WARNING: ignoring unreadable epoch state in $file"
  fi
}

store_epoch() {
  local tmp=$STATE_DIR/epoch.tmp
  printf '%s\n' "$EPOCH" >"$tmp"
  sync -- "$tmp" 2>/dev/null || true
  mv -f -- "$tmp" "$STATE_DIR/epoch"
}

acquire_lock() {
  mkdir -p -- "$STATE_DIR" # mode 0750 from the umask
  exec 9>>"$STATE_DIR/lock"
  if ! flock -w "$LOCK_TIMEOUT" 9; then
    warn "BUSY: another command held $STATE_DIR/lock for more than ${LOCK_TIMEOUT}s"
    read_node_epoch
    query_unit
    finish busy "$UNIT_ACTIVE" "$EXIT_BUSY"
  fi
  log "lock acquired (t=${EPOCHREALTIME:-$(date +%s.%6N)})"
}

# Refuses a command from an outdated watchdog; stores a newer epoch before anything is done.
fence() {
  read_node_epoch
  if [[ -n $NODE_EPOCH ]] && ((EPOCH < NODE_EPOCH)); then
    printf 'STALE_EPOCH node=%s command=%s\n' "$NODE_EPOCH" "$EPOCH" >&2
    query_unit
    finish stale-epoch "$UNIT_ACTIVE" "$EXIT_STALE_EPOCH"
  fi
  if [[ -z $NODE_EPOCH ]] || ((EPOCH > NODE_EPOCH)); then
    store_epoch
    log "epoch ${NODE_EPOCH:-none} -> $EPOCH"
    NODE_EPOCH=$EPOCH
  fi
}

do_stop() {
  local before rc=0 result
  query_unit
  before=$UNIT_STATE
  log "unit $UNIT is ${before:-unknown}; systemctl stop (bound ${STOP_TIMEOUT}s)"
  timeout -k 5 "$STOP_TIMEOUT" systemctl stop -- "$UNIT" 9>&- || rc=$?
  if ((rc == 124 || rc == 137)); then
    result=killed
    log "stop did not finish within ${STOP_TIMEOUT}s: SIGKILL to every process of $UNIT"
  else
    ((rc == 0)) || warn "systemctl stop $UNIT exited $rc"
    if [[ $before == inactive || $before == failed || $before == unknown ]]; then
      result=already-stopped
    else
      result=stopped
    fi
  fi
  # The whole process tree: also what a crash or KillMode=process left behind. No-op when empty.
  kill_unit
  if ! wait_down "$KILL_WAIT"; then
    warn "unit $UNIT is still ${UNIT_STATE:-in an unknown state} after SIGKILL"
    show_status
    finish stop-failed true "$EXIT_STOP_FAILED"
  fi
  log "unit $UNIT is $UNIT_STATE"
  finish "$result" false "$EXIT_OK"
}

# wait_active <tries>: polls (0.2 s apart) until is-active succeeds.
wait_active() {
  local tries=$1
  while :; do
    query_unit
    [[ $UNIT_ACTIVE == true ]] && return 0
    ((--tries > 0)) || return 1
    sleep 0.2
  done
}

start_failed() {
  warn "START_FAILED $*"
  show_status
  # Leave the unit down: a scheduler that comes up later (Restart=always) behind the watchdog's back
  # could become a duplicate after the watchdog has moved on to another node.
  timeout -k 5 "$STOP_TIMEOUT" systemctl stop -- "$UNIT" 9>&- >/dev/null 2>&1 || true
  kill_unit
  query_unit
  finish start-failed "$UNIT_ACTIVE" "$EXIT_START_FAILED"
}

do_start() {
  local rc=0
  query_unit
  if [[ $UNIT_ACTIVE == true ]]; then
    log "unit $UNIT is already active; nothing to do"
    finish already-running true "$EXIT_OK"
  fi
  log "unit $UNIT is ${UNIT_STATE:-unknown}: clearing leftovers of a previous run (SIGKILL, reset-failed)"
  kill_unit
  sysctl reset-failed -- "$UNIT" >/dev/null 2>&1 || true
  log "systemctl start $UNIT (bound ${START_TIMEOUT}s)"
  timeout -k 5 "$START_TIMEOUT" systemctl start -- "$UNIT" 9>&- || rc=$?
  if ((rc != 0)); then
    start_failed "systemctl start $UNIT exited $rc"
  fi
  if ! wait_active 15; then
    start_failed "unit $UNIT is ${UNIT_STATE:-in an unknown state} after start"
  fi
  log "unit $UNIT is active"
  finish started true "$EXIT_OK"
}

do_status() {
  read_node_epoch
  query_unit
  log "unit $UNIT is ${UNIT_STATE:-unknown}"
  finish "${UNIT_STATE:-unknown}" "$UNIT_ACTIVE" "$EXIT_OK"
}

# read_seconds <environment variable> <default> <minimum>: prints whole seconds, or fails.
read_seconds() {
  local value=${!1:-$2}
  if [[ $value =~ $SECONDS_PATTERN ]] && ((10#$value >= $3)); then
    printf '%s' "$((10#$value))"
  else
    return 1
  fi
}

main() {
  if [[ ${1:-} == --print-contract ]]; then
    print_contract
    return 0
  fi
  local action=${WATCHDOG_ACTION:-${1:-}}
  if [[ -n ${WATCHDOG_ACTION:-} && -n ${1:-} && $1 != "$WATCHDOG_ACTION" ]]; then
    warn "BAD_PARAMETER WATCHDOG_ACTION and \$1 disagree"
    exit "$EXIT_BAD_PARAMETER"
  fi
  case $action in
    start | stop | status) ACTION=$action ;;
    *)
      warn "BAD_PARAMETER action must be start, stop or status (WATCHDOG_ACTION or \$1)"
      exit "$EXIT_BAD_PARAMETER"
      ;;
  esac
  trap on_exit EXIT
  trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

  # Parameters first, so that a refused command touches nothing.
  if [[ -z ${SSM_UnitName+set} ]]; then bad_parameter "UnitName is missing"; fi
  [[ $SSM_UnitName =~ $UNIT_NAME_PATTERN ]] || bad_parameter "UnitName does not match $UNIT_NAME_PATTERN"
  UNIT=$SSM_UnitName
  if [[ -n ${SSM_Epoch+set} ]]; then
    [[ $SSM_Epoch =~ $EPOCH_PATTERN ]] || bad_parameter "Epoch does not match $EPOCH_PATTERN"
    EPOCH=$((10#$SSM_Epoch))
  elif [[ $ACTION != status ]]; then
    bad_parameter "Epoch is missing"
  fi

  STATE_DIR=${WATCHDOG_STATE_DIR:-/var/lib/airflow-scheduler-watchdog}
  [[ $STATE_DIR == /* ]] || bad_parameter "WATCHDOG_STATE_DIR must be an absolute path"
  STOP_TIMEOUT=$(read_seconds WATCHDOG_STOP_TIMEOUT_SECONDS 30 1) ||
    bad_parameter "WATCHDOG_STOP_TIMEOUT_SECONDS must be a whole number of seconds, at least 1"
  START_TIMEOUT=$(read_seconds WATCHDOG_START_TIMEOUT_SECONDS 30 1) ||
    bad_parameter "WATCHDOG_START_TIMEOUT_SECONDS must be a whole number of seconds, at least 1"
  LOCK_TIMEOUT=$(read_seconds WATCHDOG_LOCK_TIMEOUT_SECONDS 20 0) ||
    bad_parameter "WATCHDOG_LOCK_TIMEOUT_SECONDS must be a whole number of seconds"
  KILL_WAIT=$(read_seconds WATCHDOG_KILL_WAIT_SECONDS 5 0) ||
    bad_parameter "WATCHDOG_KILL_WAIT_SECONDS must be a whole number of seconds"
  readonly STATE_DIR STOP_TIMEOUT START_TIMEOUT LOCK_TIMEOUT KILL_WAIT

  if [[ $ACTION == status ]]; then
    do_status
  fi
  acquire_lock
  fence
  case $ACTION in
    start) do_start ;;
    stop) do_stop ;;
  esac
}

main "$@"
