#!/usr/bin/env bash
# Node side of the Airflow scheduler watchdog (SPEC §7): start, stop or report one systemd unit of
# Airflow (airflow-scheduler; on Airflow 3 also airflow-dag-processor and airflow-triggerer) on one
# node, and fence it on the node itself. The project's SSM Command documents (schemaVersion 2.2,
# aws:runShellScript) embed this file; each document sets the action (WATCHDOG_ACTION=start|stop|
# status) and passes its parameters as environment variables (interpolationType ENV_VAR), never as
# shell text. systemd runs a copy of it as the unit's ExecCondition= (action check-permit).
#
# Contract (functions/core/node-protocol.ts; test/node pins it; `--print-contract` prints it):
#   action      WATCHDOG_ACTION, else $1: start | stop | status
#               $1 = check-permit <unit> <state dir> <run dir>: systemd's ExecCondition (below)
#   parameters  SSM_Epoch     ^[0-9]{1,12}$            required for start/stop, optional for status
#               SSM_UnitName  ^[A-Za-z0-9@._-]{1,64}$  required (a trailing .service is implied)
#   tunables    WATCHDOG_STATE_DIR   (default /var/lib/airflow-scheduler-watchdog) epochs, lock, checker
#               WATCHDOG_RUN_DIR     (default /run/airflow-scheduler-watchdog) permits; a tmpfs, so a
#                                    reboot revokes them
#               WATCHDOG_SYSTEMD_DIR (default /etc/systemd/system) where the drop-in goes
#               WATCHDOG_CGROUP_ROOT (default /sys/fs/cgroup) where the unit's processes are counted
#                                    (these four: absolute, characters A-Za-z0-9._/@+- only, no "..")
#               WATCHDOG_STOP_TIMEOUT_SECONDS (default 30) bound on `systemctl stop` before SIGKILL
#               WATCHDOG_START_TIMEOUT_SECONDS (default 30) bound on `systemctl start`
#               WATCHDOG_LOCK_TIMEOUT_SECONDS (default 20) wait for another command on this node
#               WATCHDOG_KILL_WAIT_SECONDS    (default 5)  wait for the unit to go down after SIGKILL
#               WATCHDOG_HOSTNAME_OVERRIDE    (tests and the local simulator only)
#   exit codes  0 ok, 64 bad parameter, 65 stale epoch, 66 bad state (start refused: the stored epoch
#               is malformed), 70 stop failed, 71 start failed, 75 busy;
#               check-permit: 0 permitted, 1 refused (systemd then skips the start: the unit stays
#               inactive, not failed), 64 bad arguments
#   stdout      progress lines, then always (once the action is known) one JSON line:
#               {"action","result","epoch","nodeEpoch","running","hostname","unit","unitState",
#                "enabled","permitEpoch","permitValid","guard","processes","killed","problems"}
#
# Fencing: $WATCHDOG_STATE_DIR/epoch-<unit> holds the highest epoch this node has seen for that
# unit (a node without it uses the pre-per-unit file $WATCHDOG_STATE_DIR/epoch, until the unit
# stores its own). start/stop with a lower epoch are refused (exit 65, `STALE_EPOCH node=<n>
# command=<c>` on stderr) and change nothing; otherwise the epoch is stored (atomically) before
# acting. A malformed epoch file is never read as a number: start is refused (66), stop goes on
# without storing (a stop never starts anything), status reports it. Commands serialise on
# $WATCHDOG_STATE_DIR/lock (flock), one lock for all units. status reads only.
#
# On-node fencing, which also holds when the watchdog cannot reach the node: start writes the permit
# $WATCHDOG_RUN_DIR/permit-<unit> (the epoch, one line) before starting the unit; stop removes it
# before stopping. Every start and stop installs this script as $WATCHDOG_STATE_DIR/bin/
# airflow-watchdog-node and the drop-in $WATCHDOG_SYSTEMD_DIR/<unit>.service.d/
# 50-airflow-watchdog-permit.conf (`ExecCondition=+<that copy> check-permit <unit> <state dir> <run
# dir>`), replacing either only when its content differs, with a daemon-reload only when the drop-in
# changed. systemd then runs the check before every start of the unit (systemctl start, Restart=,
# boot): it passes only while the permit exists, is well-formed and is for an epoch at least the
# node's stored epoch for the unit. So a rebooted node starts nothing until the watchdog starts it,
# and Restart= cannot bring back a unit the watchdog stopped; a crash on the active node is
# restarted by systemd (its permit is valid). Needs systemd >= 243 (ExecCondition=).
#
# Needs bash, coreutils (timeout, sleep, mv, mkdir, cmp via diffutils), util-linux (flock), sed,
# find, systemctl; python3 optional.

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
readonly EXIT_BAD_STATE=66
readonly EXIT_STOP_FAILED=70
readonly EXIT_START_FAILED=71
readonly EXIT_BUSY=75
readonly EXIT_PERMITTED=0
readonly EXIT_NOT_PERMITTED=1

readonly EPOCH_PATTERN='^[0-9]{1,12}$'
readonly UNIT_NAME_PATTERN='^[A-Za-z0-9@._-]{1,64}$'
readonly SECONDS_PATTERN='^[0-9]{1,6}$'
readonly DIR_PATTERN='^/[A-Za-z0-9._/@+-]{0,200}$'
# A cgroup path as systemd prints it (\x2d escapes included).
readonly CGROUP_PATTERN='^/[A-Za-z0-9@._/\\:+-]{0,1000}$'
readonly CHECKER_NAME=airflow-watchdog-node
readonly DROPIN_NAME=50-airflow-watchdog-permit.conf
# The first line of this script's body: what is installed as the checker starts here, so that
# the copies made by the start and the stop documents (which put lines before it) are identical.
readonly BODY_MARKER='# Node side of the Airflow scheduler watchdog'
readonly UNIT_STATES=' active activating deactivating failed inactive reloading '
readonly ENABLED_WORDS=' enabled enabled-runtime linked linked-runtime alias masked masked-runtime static indirect disabled generated transient bad not-found '

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
UNIT_BASE=''
EPOCH=''
NODE_EPOCH=''
EPOCH_FILE=''
EPOCH_BAD=0
STATE_DIR=''
RUN_DIR=''
SYSTEMD_DIR=''
CGROUP_ROOT=''
REPORTED=0
INSPECTABLE=0
UNIT_STATE=''
UNIT_ACTIVE=false
ENABLED_WORD=unknown
PERMIT_EPOCH=''
PERMIT_VALID=false
PERMIT_WHY=''
GUARD=unknown
PROCS=''
STOP_PROCS=''
STOP_PROCS_SET=0
KILLED=''
PROBLEMS=()

log() { printf 'airflow-scheduler.sh %s: %s\n' "${ACTION:-?}" "$*"; }
warn() { printf 'airflow-scheduler.sh %s: %s\n' "${ACTION:-?}" "$*" >&2; }

# problem <text>: a warning that also goes into the report's "problems".
problem() {
  local p
  for p in ${PROBLEMS[@]+"${PROBLEMS[@]}"}; do [[ $p != "$1" ]] || return 0; done
  PROBLEMS+=("$1")
  warn "WARNING: $1"
}

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
  printf '"exit":{"ok":%d,"badParameter":%d,"staleEpoch":%d,"badState":%d,"stopFailed":%d,"startFailed":%d,"busy":%d},' \
    "$EXIT_OK" "$EXIT_BAD_PARAMETER" "$EXIT_STALE_EPOCH" "$EXIT_BAD_STATE" "$EXIT_STOP_FAILED" "$EXIT_START_FAILED" "$EXIT_BUSY"
  printf '"checkPermitExit":{"permitted":%d,"notPermitted":%d,"badParameter":%d},' "$EXIT_PERMITTED" "$EXIT_NOT_PERMITTED" "$EXIT_BAD_PARAMETER"
  printf '"files":{"checker":"bin/%s","dropIn":"%s"},' "$CHECKER_NAME" "$DROPIN_NAME"
  printf '"unitStates":"%s","enabledStates":"%s"}\n' "$UNIT_STATES" "$ENABLED_WORDS"
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

json_number_or_null() {
  if [[ -n $1 ]]; then printf '%s' "$1"; else printf null; fi
}

# processes: what a stop found before stopping; otherwise the count when the report is written.
reported_processes() {
  if ((STOP_PROCS_SET)); then printf '%s' "$STOP_PROCS"; else printf '%s' "$PROCS"; fi
}

# The last stdout line. Numbers are normalised decimals (no leading zeros) or null.
report() {
  local result=$1 running=$2 host problems='' p
  if ((INSPECTABLE)); then inspect; fi
  host=$(node_hostname)
  for p in ${PROBLEMS[@]+"${PROBLEMS[@]}"}; do
    problems+="${problems:+,}\"$(json_escape "$p")\""
  done
  printf '{"action":"%s","result":"%s","epoch":%s,"nodeEpoch":%s,"running":%s,"hostname":"%s","unit":"%s",' \
    "$ACTION" "$(json_escape "$result")" "${EPOCH:-null}" "${NODE_EPOCH:-null}" "$running" \
    "$(json_escape "$host")" "$(json_escape "$UNIT")"
  printf '"unitState":"%s","enabled":"%s","permitEpoch":%s,"permitValid":%s,"guard":"%s","processes":%s,"killed":%s,"problems":[%s]}\n' \
    "$(json_escape "$(unit_state_word)")" "$(json_escape "$ENABLED_WORD")" "$(json_number_or_null "$PERMIT_EPOCH")" \
    "$PERMIT_VALID" "$GUARD" "$(json_number_or_null "$(reported_processes)")" "$(json_number_or_null "$KILLED")" "$problems"
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

# The is-active word, or "unknown" for anything this contract does not name.
unit_state_word() {
  if [[ -n $UNIT_STATE && $UNIT_STATES == *" $UNIT_STATE "* ]]; then printf '%s' "$UNIT_STATE"; else printf unknown; fi
}

query_enabled() {
  local out
  out=$(sysctl is-enabled -- "$UNIT" 2>/dev/null) || true
  out=${out%%$'\n'*}
  if [[ -n $out && $ENABLED_WORDS == *" $out "* ]]; then ENABLED_WORD=$out; else ENABLED_WORD=unknown; fi
}

unit_is_down() {
  query_unit
  [[ $UNIT_ACTIVE == false ]] && [[ $UNIT_STATE == inactive || $UNIT_STATE == failed || $UNIT_STATE == unknown ]]
}

# count_processes: sets PROCS to the number of processes in the unit's cgroup ('' when it cannot be
# told; the reason is in PROBLEMS). systemd keeps the cgroup of a stopped or failed unit while
# processes are left in it, and prints an empty ControlGroup once it is gone.
count_processes() {
  local out cg base dir='' pids=()
  PROCS=''
  if ! out=$(sysctl show --property=ControlGroup --value -- "$UNIT" 2>/dev/null); then
    problem "cannot count the processes of $UNIT: systemctl show --property=ControlGroup failed"
    return 0
  fi
  cg=${out%%$'\n'*}
  if [[ -z $cg ]]; then
    PROCS=0
    return 0
  fi
  if ! [[ $cg =~ $CGROUP_PATTERN && $cg != *..* ]]; then
    problem "cannot count the processes of $UNIT: systemd names an unexpected cgroup path"
    return 0
  fi
  for base in "$CGROUP_ROOT" "$CGROUP_ROOT/unified" "$CGROUP_ROOT/systemd"; do
    if [[ -f $base$cg/cgroup.procs ]]; then
      dir=$base$cg
      break
    fi
  done
  if [[ -z $dir ]]; then
    if [[ -f $CGROUP_ROOT/cgroup.procs || -f $CGROUP_ROOT/unified/cgroup.procs || -f $CGROUP_ROOT/systemd/cgroup.procs ]]; then
      PROCS=0 # the cgroup is gone since systemctl answered
    else
      problem "cannot count the processes of $UNIT: no cgroup file system at $CGROUP_ROOT"
    fi
    return 0
  fi
  if ! out=$(find "$dir" -name cgroup.procs -type f -exec cat -- {} + 2>/dev/null); then
    problem "cannot count the processes of $UNIT: $dir is not readable"
    return 0
  fi
  if [[ -n $out ]]; then mapfile -t pids <<<"$out"; fi
  PROCS=${#pids[@]}
}

# wait_down <seconds>: polls until the unit is inactive/failed and has no process left.
wait_down() {
  local tries=$(($1 * 5))
  while :; do
    if unit_is_down; then
      count_processes
      # An uncountable unit (PROCS empty, reported as a problem) is judged by its state alone.
      [[ -n $PROCS && $PROCS != 0 ]] || return 0
    fi
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

# read_epoch_file <file>: sets NUMBER to the epoch the file holds (one line: 1-12 digits, then an
# optional newline), or fails with WHY saying what is wrong.
read_epoch_file() {
  local file=$1 size line=''
  NUMBER=''
  WHY=''
  if [[ ! -f $file ]]; then
    WHY='is not a regular file'
    return 1
  fi
  if ! size=$(stat -c %s -- "$file" 2>/dev/null) || ! [[ $size =~ ^[0-9]+$ ]]; then
    WHY='cannot be read'
    return 1
  fi
  if ((size == 0)); then
    WHY='is empty'
    return 1
  fi
  if ((size > 13)); then
    WHY="holds $size bytes, more than one epoch (1-12 digits and a newline)"
    return 1
  fi
  if ! IFS= read -r line <"$file" && [[ -z $line ]]; then
    WHY='cannot be read'
    return 1
  fi
  # The byte count catches a second line and NUL bytes, which bash's read drops.
  WHY='does not hold one decimal epoch of 1-12 digits on one line'
  ((size == ${#line} || size == ${#line} + 1)) || return 1
  [[ $line =~ $EPOCH_PATTERN ]] || return 1
  NUMBER=$((10#$line))
  WHY=''
}

# Sets NODE_EPOCH ('' when none is stored or the file is malformed), EPOCH_FILE (the file that
# holds the unit's epoch: its own, else the pre-per-unit one) and EPOCH_BAD.
read_node_epoch() {
  local own=$STATE_DIR/epoch-$UNIT_BASE legacy=$STATE_DIR/epoch
  NODE_EPOCH=''
  EPOCH_BAD=0
  EPOCH_FILE=''
  if [[ -e $own || -L $own ]]; then
    EPOCH_FILE=$own
  elif [[ -e $legacy || -L $legacy ]]; then
    EPOCH_FILE=$legacy
  else
    return 0
  fi
  if read_epoch_file "$EPOCH_FILE"; then
    NODE_EPOCH=$NUMBER
  else
    EPOCH_BAD=1
    problem "malformed epoch file $EPOCH_FILE: it $WHY; the node's epoch for $UNIT is unknown (fix or remove the file)"
  fi
}

store_epoch() {
  local tmp=$STATE_DIR/epoch-$UNIT_BASE.tmp
  printf '%s\n' "$EPOCH" >"$tmp"
  sync -- "$tmp" 2>/dev/null || true
  mv -f -- "$tmp" "$STATE_DIR/epoch-$UNIT_BASE"
}

permit_file() { printf '%s' "$RUN_DIR/permit-$UNIT_BASE"; }

# Sets PERMIT_EPOCH ('' unless a well-formed permit exists), PERMIT_VALID (what check-permit would
# answer) and PERMIT_WHY (its reason, for the journal). Reads the node's epoch too.
permit_verdict() {
  local file
  file=$(permit_file)
  PERMIT_EPOCH=''
  PERMIT_VALID=false
  read_node_epoch
  if [[ ! -e $file && ! -L $file ]]; then
    PERMIT_WHY="no permit $file: the watchdog has not started $UNIT on this node since it booted, or has stopped it"
    return 0
  fi
  if ! read_epoch_file "$file"; then
    PERMIT_WHY="malformed permit $file: it $WHY"
    problem "$PERMIT_WHY"
    return 0
  fi
  PERMIT_EPOCH=$NUMBER
  if ((EPOCH_BAD)); then
    PERMIT_WHY="permit $file is for epoch $PERMIT_EPOCH, but the node's epoch file $EPOCH_FILE is malformed"
  elif [[ -z $NODE_EPOCH ]]; then
    PERMIT_WHY="permit $file is for epoch $PERMIT_EPOCH, but the node has no stored epoch ($STATE_DIR/epoch-$UNIT_BASE)"
  elif ((PERMIT_EPOCH < NODE_EPOCH)); then
    PERMIT_WHY="permit $file is for epoch $PERMIT_EPOCH, older than the node's epoch $NODE_EPOCH ($EPOCH_FILE): fenced"
  else
    PERMIT_VALID=true
    PERMIT_WHY="permit $file for epoch $PERMIT_EPOCH (node epoch $NODE_EPOCH)"
  fi
}

write_permit() {
  local file tmp
  file=$(permit_file)
  tmp=$file.tmp
  mkdir -p -- "$RUN_DIR"
  printf '%s\n' "$EPOCH" >"$tmp"
  mv -f -- "$tmp" "$file"
  log "permit $file written for epoch $EPOCH"
}

revoke_permit() {
  local file
  file=$(permit_file)
  if [[ -e $file || -L $file ]]; then
    if rm -f -- "$file"; then
      log "permit $file revoked"
    else
      problem "cannot remove the permit $file: systemd may still start $UNIT"
    fi
  fi
}

# ---- the guard: this script as the unit's ExecCondition ----------------------------------------------

checker_path() { printf '%s' "$STATE_DIR/bin/$CHECKER_NAME"; }
dropin_path() { printf '%s' "$SYSTEMD_DIR/$UNIT_BASE.service.d/$DROPIN_NAME"; }
checker_argv() { printf '%s check-permit %s %s %s' "$(checker_path)" "$UNIT_BASE" "$STATE_DIR" "$RUN_DIR"; }

dropin_text() {
  printf '# Written by the Airflow scheduler watchdog on every start and stop of %s; edits are overwritten.\n' "$UNIT_BASE"
  printf '# systemd runs the check before every start (systemctl start, Restart=, boot) and skips the start\n'
  printf "# unless the permit %s exists and is for the node's current epoch.\n" "$(permit_file)"
  printf '[Service]\n'
  printf 'ExecCondition=+%s\n' "$(checker_argv)"
}

# The checker's content: a shebang and this script from BODY_MARKER on (whatever a document put before it).
self_body() {
  local body
  body=$(sed -n "/^${BODY_MARKER}/,\$p" -- "$0") || return 1
  [[ $body == "$BODY_MARKER"* && $body == *'check-permit'* ]] || return 1
  printf '#!/usr/bin/env bash\n%s\n' "$body"
}

# guard_state: sets GUARD to installed (drop-in and checker as this script writes them, and systemd
# has loaded the condition), missing (no drop-in, none loaded) or outdated (anything else). Reads only.
guard_state() {
  local dropin checker loaded want
  dropin=$(dropin_path)
  checker=$(checker_path)
  # `ExecCondition={ path=… ; argv[]=<argv joined by spaces> ; … }`, one line per command (systemd >= 243).
  loaded=$(sysctl show --property=ExecCondition -- "$UNIT" 2>/dev/null) || loaded=''
  want="argv[]=$(checker_argv) ;"
  if [[ ! -e $dropin && $loaded != *"$want"* ]]; then
    GUARD=missing
  elif [[ -f $dropin && $(<"$dropin") == "$(dropin_text)" && $loaded == *"$want"* ]] && self_body 2>/dev/null | cmp -s -- - "$checker"; then
    GUARD=installed
  else
    GUARD=outdated
  fi
}

# ensure_guard (start/stop, under the lock): installs the checker and the drop-in where they differ;
# daemon-reload when the drop-in changed. A failure is reported, not fatal: the command goes on.
ensure_guard() {
  local checker dropin dir tmp
  checker=$(checker_path)
  dropin=$(dropin_path)
  tmp=$STATE_DIR/bin/.$CHECKER_NAME.tmp
  if ! mkdir -p -- "$STATE_DIR/bin" || ! self_body >"$tmp"; then
    rm -f -- "$tmp"
    problem "cannot install the permit checker $checker (this script's text is not readable from $0)"
  elif cmp -s -- "$tmp" "$checker"; then
    rm -f -- "$tmp"
  elif chmod 0750 -- "$tmp" && mv -f -- "$tmp" "$checker"; then
    log "permit checker $checker installed"
  else
    rm -f -- "$tmp"
    problem "cannot install the permit checker $checker"
  fi
  if [[ -f $dropin && $(<"$dropin") == "$(dropin_text)" ]]; then
    return 0
  fi
  dir=${dropin%/*}
  tmp=$dir/.$DROPIN_NAME.tmp
  if mkdir -p -- "$dir" && chmod 0755 -- "$dir" && dropin_text >"$tmp" && chmod 0644 -- "$tmp" && mv -f -- "$tmp" "$dropin"; then
    log "drop-in $dropin installed; systemctl daemon-reload"
    if ! sysctl daemon-reload >/dev/null 2>&1; then
      problem "systemctl daemon-reload failed: the permit check may not be in force for $UNIT"
    fi
  else
    rm -f -- "$tmp" 2>/dev/null || true
    problem "cannot write the drop-in $dropin: systemd does not check the permit before starting $UNIT"
  fi
}

# inspect: everything the report says about the unit besides the command's own result. Reads only.
inspect() {
  query_unit
  query_enabled
  permit_verdict
  guard_state
  count_processes
}

# ---- commands --------------------------------------------------------------------------------------

acquire_lock() {
  mkdir -p -- "$STATE_DIR" # mode 0750 from the umask
  exec 9>>"$STATE_DIR/lock"
  if ! flock -w "$LOCK_TIMEOUT" 9; then
    warn "BUSY: another command held $STATE_DIR/lock for more than ${LOCK_TIMEOUT}s"
    query_unit
    finish busy "$UNIT_ACTIVE" "$EXIT_BUSY"
  fi
  log "lock acquired (t=${EPOCHREALTIME:-$(date +%s.%6N)})"
}

# Refuses a command from an outdated watchdog; stores a newer epoch before anything is done.
fence() {
  read_node_epoch
  if ((EPOCH_BAD)); then
    if [[ $ACTION == start ]]; then
      warn "BAD_STATE start refused: the node's epoch for $UNIT is unknown ($EPOCH_FILE is malformed)"
      query_unit
      finish bad-state "$UNIT_ACTIVE" "$EXIT_BAD_STATE"
    fi
    log "the node's epoch for $UNIT is unknown ($EPOCH_FILE is malformed): stopping without storing epoch $EPOCH"
    return 0
  fi
  if [[ -n $NODE_EPOCH ]] && ((EPOCH < NODE_EPOCH)); then
    printf 'STALE_EPOCH node=%s command=%s\n' "$NODE_EPOCH" "$EPOCH" >&2
    query_unit
    finish stale-epoch "$UNIT_ACTIVE" "$EXIT_STALE_EPOCH"
  fi
  if [[ -z $NODE_EPOCH ]] || ((EPOCH > NODE_EPOCH)) || [[ $EPOCH_FILE != "$STATE_DIR/epoch-$UNIT_BASE" ]]; then
    store_epoch
    log "epoch of $UNIT ${NODE_EPOCH:-none} -> $EPOCH"
    NODE_EPOCH=$EPOCH
  fi
}

do_stop() {
  local before rc=0 result remaining
  revoke_permit
  ensure_guard
  query_unit
  before=$UNIT_STATE
  count_processes
  STOP_PROCS=$PROCS
  STOP_PROCS_SET=1
  log "unit $UNIT is ${before:-unknown} with ${PROCS:-an unknown number of} processes; systemctl stop (bound ${STOP_TIMEOUT}s)"
  timeout -k 5 "$STOP_TIMEOUT" systemctl stop -- "$UNIT" 9>&- || rc=$?
  count_processes
  remaining=$PROCS
  if ((rc == 124 || rc == 137)); then
    result=killed
    log "stop did not finish within ${STOP_TIMEOUT}s: SIGKILL to the ${remaining:-?} processes of $UNIT"
  else
    ((rc == 0)) || warn "systemctl stop $UNIT exited $rc"
    case $before in
      active | activating | deactivating | reloading) result=stopped ;;
      *) if [[ ${STOP_PROCS:-0} != 0 || ${remaining:-0} != 0 ]]; then result=cleared-leftovers; else result=already-stopped; fi ;;
    esac
  fi
  # Whatever systemd left: processes KillMode=process spares, orphans of a crash. Not needed when empty.
  if [[ $remaining != 0 ]]; then
    [[ $result == killed ]] || log "${remaining:-some} processes of $UNIT are left after the unit went down: SIGKILL"
    kill_unit
  fi
  KILLED=$remaining
  if ! wait_down "$KILL_WAIT"; then
    warn "unit $UNIT is still ${UNIT_STATE:-in an unknown state} with ${PROCS:-an unknown number of} processes after SIGKILL"
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
  # Leave the unit down and without a permit: a scheduler that comes up later (Restart=always) behind
  # the watchdog's back could become a duplicate after the watchdog has moved on to another node.
  revoke_permit
  timeout -k 5 "$STOP_TIMEOUT" systemctl stop -- "$UNIT" 9>&- >/dev/null 2>&1 || true
  kill_unit
  query_unit
  finish start-failed "$UNIT_ACTIVE" "$EXIT_START_FAILED"
}

do_start() {
  local rc=0
  ensure_guard
  write_permit
  query_unit
  if [[ $UNIT_ACTIVE == true ]]; then
    log "unit $UNIT is already active; nothing to do"
    finish already-running true "$EXIT_OK"
  fi
  count_processes
  KILLED=0
  if [[ $PROCS != 0 ]]; then
    log "unit $UNIT is ${UNIT_STATE:-unknown} with ${PROCS:-an unknown number of} leftover processes of a previous run: SIGKILL"
    kill_unit
    KILLED=$PROCS
  fi
  sysctl reset-failed -- "$UNIT" >/dev/null 2>&1 || true
  log "systemctl start $UNIT (bound ${START_TIMEOUT}s)"
  timeout -k 5 "$START_TIMEOUT" systemctl start -- "$UNIT" 9>&- || rc=$?
  if ((rc != 0)); then
    start_failed "systemctl start $UNIT exited $rc"
  fi
  if ! wait_active 15; then
    start_failed "unit $UNIT is ${UNIT_STATE:-in an unknown state} after start (if inactive: did its ExecCondition refuse? see journalctl -u $UNIT)"
  fi
  log "unit $UNIT is active"
  finish started true "$EXIT_OK"
}

do_status() {
  inspect
  INSPECTABLE=0
  log "unit $UNIT is ${UNIT_STATE:-unknown}, ${ENABLED_WORD}, guard $GUARD, permit ${PERMIT_EPOCH:-none}, ${PROCS:-?} processes"
  finish "$(unit_state_word)" "$UNIT_ACTIVE" "$EXIT_OK"
}

# check-permit <unit> <state dir> <run dir>: systemd's ExecCondition. Exit 0 lets the start go on;
# exit 1 makes systemd skip it (the unit stays inactive, not failed). The reason goes to the journal.
check_permit() {
  ACTION=check-permit
  trap 'exit 1' ERR
  if (($# != 4)) || ! [[ $2 =~ $UNIT_NAME_PATTERN && $3 =~ $DIR_PATTERN && $3 != *..* && $4 =~ $DIR_PATTERN && $4 != *..* ]]; then
    printf '%s check-permit: usage: check-permit <unit> <state dir> <run dir> (unit ^[A-Za-z0-9@._-]{1,64}$, absolute directories)\n' "$CHECKER_NAME" >&2
    exit "$EXIT_BAD_PARAMETER"
  fi
  UNIT=$2
  UNIT_BASE=${UNIT%.service}
  STATE_DIR=$3
  RUN_DIR=$4
  permit_verdict
  if [[ $PERMIT_VALID == true ]]; then
    printf '%s: %s: %s: starting\n' "$CHECKER_NAME" "$UNIT" "$PERMIT_WHY"
    exit "$EXIT_PERMITTED"
  fi
  printf '%s: %s: not starting: %s\n' "$CHECKER_NAME" "$UNIT" "$PERMIT_WHY"
  exit "$EXIT_NOT_PERMITTED"
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

# read_dir <value> <name>: prints the directory without trailing slashes, or fails.
read_dir() {
  local value=$1
  [[ $value =~ $DIR_PATTERN && $value != *..* ]] || return 1
  while [[ $value == ?*/ ]]; do value=${value%/}; done
  printf '%s' "$value"
}

main() {
  if [[ ${1:-} == --print-contract ]]; then
    print_contract
    return 0
  fi
  if [[ ${1:-} == check-permit ]]; then
    check_permit "$@"
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
  [[ $SSM_UnitName != .service ]] || bad_parameter "UnitName names no unit"
  UNIT=$SSM_UnitName
  UNIT_BASE=${UNIT%.service}
  if [[ -n ${SSM_Epoch+set} ]]; then
    [[ $SSM_Epoch =~ $EPOCH_PATTERN ]] || bad_parameter "Epoch does not match $EPOCH_PATTERN"
    EPOCH=$((10#$SSM_Epoch))
  elif [[ $ACTION != status ]]; then
    bad_parameter "Epoch is missing"
  fi

  STATE_DIR=$(read_dir "${WATCHDOG_STATE_DIR:-/var/lib/airflow-scheduler-watchdog}") ||
    bad_parameter "WATCHDOG_STATE_DIR must be an absolute path of A-Za-z0-9._/@+- without '..'"
  RUN_DIR=$(read_dir "${WATCHDOG_RUN_DIR:-/run/airflow-scheduler-watchdog}") ||
    bad_parameter "WATCHDOG_RUN_DIR must be an absolute path of A-Za-z0-9._/@+- without '..'"
  SYSTEMD_DIR=$(read_dir "${WATCHDOG_SYSTEMD_DIR:-/etc/systemd/system}") ||
    bad_parameter "WATCHDOG_SYSTEMD_DIR must be an absolute path of A-Za-z0-9._/@+- without '..'"
  CGROUP_ROOT=$(read_dir "${WATCHDOG_CGROUP_ROOT:-/sys/fs/cgroup}") ||
    bad_parameter "WATCHDOG_CGROUP_ROOT must be an absolute path of A-Za-z0-9._/@+- without '..'"
  STOP_TIMEOUT=$(read_seconds WATCHDOG_STOP_TIMEOUT_SECONDS 30 1) ||
    bad_parameter "WATCHDOG_STOP_TIMEOUT_SECONDS must be a whole number of seconds, at least 1"
  START_TIMEOUT=$(read_seconds WATCHDOG_START_TIMEOUT_SECONDS 30 1) ||
    bad_parameter "WATCHDOG_START_TIMEOUT_SECONDS must be a whole number of seconds, at least 1"
  LOCK_TIMEOUT=$(read_seconds WATCHDOG_LOCK_TIMEOUT_SECONDS 20 0) ||
    bad_parameter "WATCHDOG_LOCK_TIMEOUT_SECONDS must be a whole number of seconds"
  KILL_WAIT=$(read_seconds WATCHDOG_KILL_WAIT_SECONDS 5 0) ||
    bad_parameter "WATCHDOG_KILL_WAIT_SECONDS must be a whole number of seconds"
  readonly STATE_DIR RUN_DIR SYSTEMD_DIR CGROUP_ROOT STOP_TIMEOUT START_TIMEOUT LOCK_TIMEOUT KILL_WAIT
  INSPECTABLE=1

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
