# shellcheck shell=bash
# The lab's package repository: $REPO_DIR served over HTTP at
# http://packages.lab:8080/ (10.87.0.2) from its own network namespace.
# Sourced by lab.sh.

STANDINS_BUILD=$LAB_DIR/standins/build.sh
REPO_PIDFILE=$RUN_DIR/repo.pid

repo_build() {
  mkdir -p "$REPO_DIR"
  [[ -f $STANDINS_BUILD ]] || return 0
  [[ ${DROVER_LAB_SKIP_REPO_BUILD:-} == 1 ]] && { log "DROVER_LAB_SKIP_REPO_BUILD=1: not building the repo"; return 0; }
  local logf=$STATE_DIR/repo-build.log
  mkdir -p "$STATE_DIR"
  if ! bash "$STANDINS_BUILD" "$REPO_DIR" </dev/null >"$logf" 2>&1 9>&-; then
    tail -n 20 "$logf" >&2
    die "$STANDINS_BUILD failed (log: $logf); DROVER_LAB_SKIP_REPO_BUILD=1 skips it"
  fi
}

repo_up() {
  if pidfile_alive "$REPO_PIDFILE" >/dev/null && [[ -e /run/netns/$(netns_name repo) ]]; then
    return 0
  fi
  repo_down
  net_ns_fresh repo "$REPO_ADDR"
  setsid ip netns exec "$(netns_name repo)" /usr/bin/python3 -u -m http.server \
    --bind "$REPO_ADDR" "$REPO_PORT" --directory "$REPO_DIR" \
    </dev/null >"$STATE_DIR/repo-http.log" 2>&1 9>&- &
  local pid=$! i
  write_pidfile "$REPO_PIDFILE" "$pid" || die "the repository http server died at once (see $STATE_DIR/repo-http.log)"
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null --max-time 1 "http://$REPO_ADDR:$REPO_PORT/" 2>/dev/null && return 0
    pidfile_alive "$REPO_PIDFILE" >/dev/null || break
    sleep 0.1
  done
  die "the repository http server on $REPO_ADDR:$REPO_PORT does not answer (see $STATE_DIR/repo-http.log)"
}

repo_down() {
  local pid
  if pid=$(pidfile_alive "$REPO_PIDFILE"); then
    kill -TERM "$pid" 2>/dev/null || true
    wait_pidfile_gone "$REPO_PIDFILE" 5 || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$REPO_PIDFILE"
  net_ns_del repo
}
