# Detached processes with pid files that can be trusted: every process the local cluster (or the
# demo) starts goes through proc_start, which records its pid and exact command line under
# $CLUSTER_DIR/run/. A pid is only ever signalled after its /proc cmdline matches the record, so a
# recycled pid or someone else's process is never touched.
# shellcheck shell=bash

RUN_DIR="$CLUSTER_DIR/run"
LOG_DIR="$CLUSTER_DIR/logs"

# proc_start NAME CMD...: starts CMD in its own session (so it outlives the shell, terminal or job
# that ran `make`), stdin closed, output appended to $LOG_DIR/NAME.log.
proc_start() {
  local name="$1"; shift
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  local pidfile="$RUN_DIR/$name.pid" cmdfile="$RUN_DIR/$name.cmdline"
  rm -f "$pidfile"
  printf '%s\0' "$@" >"$cmdfile"
  printf '\n==> %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$LOG_DIR/$name.log"
  # The child writes its own pid before exec'ing CMD: that pid is CMD's, whether or not setsid forked.
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  local i
  for ((i = 0; i < 100; i++)); do
    if proc_pid "$name" >/dev/null; then return 0; fi
    sleep 0.05
  done
  die "$name did not start; last lines of $LOG_DIR/$name.log:
$(tail -n 20 "$LOG_DIR/$name.log")"
}

# proc_pid NAME: prints the pid of NAME if it is alive and still runs the recorded command line.
proc_pid() {
  local name="$1" pid
  pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # Through a pipe: cmp trusts file sizes, and /proc reports 0 for every cmdline.
  cat "/proc/$pid/cmdline" 2>/dev/null | cmp -s - "$RUN_DIR/$name.cmdline" || return 1
  echo "$pid"
}

# proc_stop NAME [GRACE_SECONDS]: SIGTERM, then SIGKILL after the grace period; returns once the
# process is gone, and forgets it. A stale record (dead or recycled pid) is just removed.
proc_stop() {
  local name="$1" grace="${2:-15}" pid
  if pid="$(proc_pid "$name")"; then
    kill -TERM "$pid" 2>/dev/null || true
    proc_wait_gone "$pid" "$grace" || {
      step "$name (pid $pid) ignored SIGTERM for ${grace}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      proc_wait_gone "$pid" 10 || die "$name (pid $pid) survived SIGKILL"
    }
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.cmdline"
}

# proc_wait_gone PID SECONDS: true once PID has exited (zombies of other parents count as gone).
proc_wait_gone() {
  local pid="$1" deadline=$((SECONDS + $2)) state
  while ((SECONDS < deadline)); do
    state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 0
    [[ "$state" == Z ]] && return 0
    sleep 0.1
  done
  return 1
}

# proc_names: every process recorded under $RUN_DIR, alive or not.
proc_names() {
  local f
  for f in "$RUN_DIR"/*.pid; do [[ -e "$f" ]] && basename "$f" .pid; done
  return 0
}
