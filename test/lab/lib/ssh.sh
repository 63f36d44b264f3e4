# shellcheck shell=bash
# Lab ssh key, known_hosts, ssh_config, inventory and the boot wait.
# Sourced by lab.sh.

ssh_key_ensure() {
  [[ -f $SSH_KEY && -f $SSH_KEY.pub ]] && return 0
  mkdir -p "${SSH_KEY%/*}"
  chmod 700 "${SSH_KEY%/*}"
  rm -f "$SSH_KEY" "$SSH_KEY.pub"
  ssh-keygen -q -t ed25519 -N '' -C drover-lab -f "$SSH_KEY"
}

# known_hosts, ssh_config and inventory for lab1..labN. known_hosts lists every
# host that has an identity, so strict host key checking works for all of them.
lab_files_write() { # HOST...: these and every other running host
  local i name addr t pub
  mkdir -p "$STATE_DIR"
  {
    for name in $(known_host_names); do
      addr=$(host_addr "$name")
      for t in ed25519 ecdsa rsa; do
        pub=$(host_dir "$name")/layer/etc/ssh/ssh_host_${t}_key.pub
        if [[ -f $pub ]]; then printf '%s,%s %s\n' "$name" "$addr" "$(cut -d' ' -f1,2 "$pub")"; fi
      done
    done
  } >"$KNOWN_HOSTS.tmp"
  mv -f "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"

  {
    echo "# drover lab hosts; use: ssh -F $SSH_CONFIG lab1  (or dev@lab1, devpw@lab1)"
    # Every possible host gets its address, so no lab name is ever looked up
    # in DNS (the inventory lists only the hosts of the current lab).
    for ((i = 1; i <= MAX_HOSTS; i++)); do
      printf 'Host lab%d\n  HostName %s\n' "$i" "$(host_addr "lab$i")"
    done
    cat <<EOF

Host lab*
  User root
  IdentityFile $SSH_KEY
  IdentitiesOnly yes
  UserKnownHostsFile $KNOWN_HOSTS
  StrictHostKeyChecking yes
  GlobalKnownHostsFile /dev/null
  ConnectTimeout 5
  ServerAliveInterval 5
  ServerAliveCountMax 3
  LogLevel ERROR
EOF
  } >"$SSH_CONFIG.tmp"
  mv -f "$SSH_CONFIG.tmp" "$SSH_CONFIG"

  local names=()
  for name in $(known_host_names); do
    if [[ " $* " == *" $name "* ]] || host_running "$name"; then names+=("$name"); fi
  done
  lab_inventory "${names[@]}" >"$INVENTORY.tmp"
  mv -f "$INVENTORY.tmp" "$INVENTORY"
}

# An Ansible YAML inventory of the given hosts, on stdout.
lab_inventory() { # HOST...
  local name
  echo "# drover lab inventory (written by test/lab/lab.sh)"
  echo "all:"
  echo "  children:"
  echo "    lab:"
  echo "      hosts:"
  for name in "$@"; do
    cat <<EOF
        $name:
          ansible_host: $(host_addr "$name")
          ansible_user: root
          ansible_ssh_private_key_file: $SSH_KEY
          ansible_ssh_common_args: "-o UserKnownHostsFile=$KNOWN_HOSTS -o StrictHostKeyChecking=yes"
EOF
  done
  echo "      vars:"
  echo "        lab_repo_url: $REPO_URL"
}

lab_ssh_opts=(-F "$SSH_CONFIG" -o BatchMode=yes -o ConnectTimeout=3)

# Waits until every named host's systemd reports running or degraded, in parallel.
wait_booted() { # NAME...
  local name deadline=$(($(date +%s) + BOOT_TIMEOUT)) failed=() pids=() i
  for name in "$@"; do
    (
      out=""
      while (($(date +%s) < deadline)); do
        if ! host_running "$name"; then
          echo "its supervisor exited" >"$RUN_DIR/$name.wait"
          exit 1
        fi
        out=$(timeout 60 ssh "${lab_ssh_opts[@]}" "$name" systemctl is-system-running --wait 2>&1) || true
        case $out in
        running) exit 0 ;;
        degraded)
          log "warning: $name is degraded; failed units: $(ssh "${lab_ssh_opts[@]}" "$name" \
            systemctl list-units --failed --plain --no-legend 2>/dev/null | awk '{ printf "%s ", $1 }')"
          exit 0
          ;;
        esac
        sleep 0.3
      done
      printf 'no running/degraded within %ss; last answer: %s\n' "$BOOT_TIMEOUT" "${out:-none}" >"$RUN_DIR/$name.wait"
      exit 1
    ) &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${@:i+1:1}")
  done
  if ((${#failed[@]})); then
    for name in "${failed[@]}"; do
      log "$name did not boot: $(cat "$RUN_DIR/$name.wait" 2>/dev/null)"
      log "last console lines of $name ($(host_dir "$name")/console.log):"
      tail -n 15 "$(host_dir "$name")/console.log" >&2 2>/dev/null || true
      rm -f "$RUN_DIR/$name.wait"
    done
    die "host(s) not up: ${failed[*]}"
  fi
  for name in "$@"; do rm -f "$RUN_DIR/$name.wait"; done
}
