#!/usr/bin/env bash
# Self-test of the drover lab's stand-in packages, on this machine, no lab needed:
# builds the repo, runs the alloy stand-in (CLI + `run`), checks apt's view of the
# repo (good key, wrong key -> NO_PUBKEY, tampered -> BADSIG) and the rpm signatures.
# Installs nothing on this machine. Uses loopback ports PORT_BASE..PORT_BASE+200
# (default 22300) and ends with a line "N passed, N failed".
#   bash test/lab/standins/selftest.sh [WORKDIR]
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${1:-$(mktemp -d /tmp/standins-selftest.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
B=${PORT_BASE:-22300}
P_ALLOY=$((B + 45)) P_G1=$((B + 17)) P_H1=$((B + 18)) P_G2=$((B + 117)) P_H2=$((B + 118))
P_APP=$((B + 64)) P_REPO=$((B + 80))
PY=/usr/bin/python3
pass=0 fail=0
PIDS=()

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # wait_for SECONDS COMMAND...
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.2
	done
}

# ------------------------------------------------------------------ build
OUT=$WORK/repo
t0=$(date +%s.%N)
if bash "$HERE/build.sh" "$OUT" >"$WORK/build1.log" 2>&1; then ok "build.sh builds $OUT"; else bad "build.sh (see $WORK/build1.log)"; cat "$WORK/build1.log"; fi
t1=$(date +%s.%N)
bash "$HERE/build.sh" "$OUT" >"$WORK/build2.log" 2>&1
t2=$(date +%s.%N)
check "second build is a no-op" grep -q "up to date" "$WORK/build2.log"
echo "#   build: first $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')s, second $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}')s"
check "tampered copy builds" bash "$HERE/build.sh" --tamper "$WORK/tampered"
for f in gpg.key wrong.key dists/stable/Release dists/stable/InRelease dists/stable/Release.gpg \
	dists/stable/main/binary-amd64/Packages dists/stable/main/binary-amd64/Packages.gz \
	pool/main/a/alloy/alloy_1.13.0_amd64.deb pool/main/a/alloy/alloy_1.8.0_amd64.deb \
	pool/main/t/tta-dev-app-standin/tta-dev-app-standin_1.0.0_all.deb; do
	check "repo has $f" test -s "$OUT/$f"
done

# ------------------------------------------------------------------ package contents
D13=$OUT/pool/main/a/alloy/alloy_1.13.0_amd64.deb
check "alloy deb ships /usr/bin/alloy, unit, /etc/default/alloy, config" \
	bash -c "dpkg-deb -c '$D13' | grep -q ' ./usr/bin/alloy$' && dpkg-deb -c '$D13' | grep -q ' ./lib/systemd/system/alloy.service$' && dpkg-deb -c '$D13' | grep -q ' ./etc/default/alloy$'  && dpkg-deb -c '$D13' | grep -q ' ./etc/alloy/config.alloy$'"
check "alloy conffiles" bash -c "dpkg-deb --ctrl-tarfile '$D13' | tar -xO ./conffiles | grep -qx /etc/default/alloy"
check "alloy description says STAND-IN" bash -c "dpkg-deb -f '$D13' Description | grep -q 'STAND-IN for Grafana Alloy built by the drover test lab'"
for v in 1.13.0 1.8.0; do
	mkdir -p "$WORK/x-$v"
	dpkg-deb -x "$OUT/pool/main/a/alloy/alloy_${v}_amd64.deb" "$WORK/x-$v"
done
dpkg-deb -x "$OUT/pool/main/t/tta-dev-app-standin/tta-dev-app-standin_1.0.0_all.deb" "$WORK/x-tta"
U=$WORK/x-1.13.0/lib/systemd/system/alloy.service
check "unit ExecStart" grep -qx 'ExecStart=/usr/bin/alloy run $CUSTOM_ARGS --storage.path=/var/lib/alloy/data $CONFIG_FILE' "$U"
check "unit EnvironmentFile/User/ExecReload/Restart" bash -c "grep -qx 'EnvironmentFile=/etc/default/alloy' '$U' && grep -qx 'User=alloy' '$U' && grep -qx 'ExecReload=/usr/bin/env kill -HUP \$MAINPID' '$U' && grep -qx 'Restart=always' '$U'"
check "environment file defaults" bash -c "grep -qx 'CONFIG_FILE=\"/etc/alloy/config.alloy\"' '$WORK/x-1.13.0/etc/default/alloy' && grep -qx 'CUSTOM_ARGS=\"\"' '$WORK/x-1.13.0/etc/default/alloy' && grep -qx 'RESTART_ON_UPGRADE=true' '$WORK/x-1.13.0/etc/default/alloy'"

# ------------------------------------------------------------------ CLI
A13="$PY $WORK/x-1.13.0/usr/bin/alloy"
A08="$PY $WORK/x-1.8.0/usr/bin/alloy"
check "--version 1.13.0" bash -c "[ \"\$($A13 --version)\" = 'alloy, version v1.13.0 (drover lab stand-in)' ]"
check "-v 1.8.0" bash -c "[ \"\$($A08 -v)\" = 'alloy, version v1.8.0 (drover lab stand-in)' ]"
cat >"$WORK/good.alloy" <<'EOF'
prometheus.exporter.self "alloy" { }
prometheus.scrape "app" {
  targets    = [{"__address__" = "localhost:9464"}]
  job_name   = "tta-dev-app"
  forward_to = [prometheus.remote_write.cloud.receiver]
}
prometheus.remote_write "cloud" {
  endpoint {
    url = sys.env("GRAFANA_CLOUD_PROMETHEUS_URL")
    basic_auth {
      username = sys.env("GRAFANA_CLOUD_PROMETHEUS_USERNAME")
      password = sys.env("GRAFANA_CLOUD_API_KEY")
    }
  }
}
otelcol.receiver.otlp "default" {
  grpc { endpoint = "127.0.0.1:4317" }
  http { endpoint = "127.0.0.1:4318" }
  output { traces = [otelcol.processor.batch.default.input] }
}
// comment
EOF
check "fmt accepts the sample" $A13 fmt "$WORK/good.alloy"
check "validate accepts the sample" $A13 validate "$WORK/good.alloy"
check "validate accepts the packaged default config" $A13 validate "$WORK/x-1.13.0/etc/alloy/config.alloy"
check "fmt -t accepts the packaged default config" $A13 fmt -t "$WORK/x-1.13.0/etc/alloy/config.alloy"
check "1.8.0 fmt accepts the sample" $A08 fmt "$WORK/good.alloy"
$A08 validate "$WORK/good.alloy" >/dev/null 2>"$WORK/v08.err"
rc=$?
check "1.8.0 has no validate (rc=$rc)" bash -c "[ $rc -ne 0 ] && grep -q 'unknown command \"validate\"' '$WORK/v08.err'"
printf 'logging {\n  level = "info"\n\nprometheus.scrape "x" {\n  targets = []\n}\n' >"$WORK/unbalanced.alloy"
printf 'a "b" {\n  x = "abc\n}\n' >"$WORK/unterminated.alloy"
printf 'a "b" {\n  x = [1, 2\n}\n' >"$WORK/bracket.alloy"
printf 'a "b" {\n  x = 1\n}\n}\n' >"$WORK/extra.alloy"
for spec in "unbalanced:7:1" "unterminated:2:7" "bracket:3:1" "extra:4:1"; do
	name=${spec%%:*} pos=${spec#*:}
	for cmd in fmt validate; do
		$A13 $cmd "$WORK/$name.alloy" >/dev/null 2>"$WORK/$name.$cmd.err"
		rc=$?
		check "$cmd rejects $name.alloy at $pos (rc=$rc)" \
			bash -c "[ $rc -eq 1 ] && grep -q '^$WORK/$name.alloy:$pos: ' '$WORK/$name.$cmd.err'"
	done
done
echo "#   e.g. $(head -1 "$WORK/unbalanced.validate.err")"

# ------------------------------------------------------------------ run
TTA_LISTEN=127.0.0.1:$P_APP $PY "$WORK/x-tta/usr/bin/tta-dev-app" 2>"$WORK/tta.log" &
PIDS+=($!)
check "tta-dev-app serves /metrics" wait_for 10 bash -c "curl -sf http://127.0.0.1:$P_APP/metrics | grep -q '^tta_requests_total'"
mkcfg() { # mkcfg GRPC_PORT HTTP_PORT
	sed -e "s/127.0.0.1:4317/127.0.0.1:$1/" -e "s/127.0.0.1:4318/127.0.0.1:$2/" \
		-e "s/localhost:9464/localhost:$P_APP/" \
		-e 's/^  job_name   = "tta-dev-app"$/  job_name   = "tta-dev-app"\n  scrape_interval = "1s"/' \
		"$WORK/good.alloy" >"$WORK/run.alloy.tmp" && mv "$WORK/run.alloy.tmp" "$WORK/run.alloy"
}
mkcfg $P_G1 $P_H1
GRAFANA_CLOUD_PROMETHEUS_URL=https://prometheus-prod-01-prod-eu-west-0.grafana.net/api/prom/push \
	$A13 run --server.http.listen-addr=127.0.0.1:$P_ALLOY --storage.path="$WORK/data" "$WORK/run.alloy" 2>"$WORK/alloy.log" &
APID=$!
PIDS+=($APID)
check "run: /-/ready is 200 'Alloy is ready.'" wait_for 10 bash -c "[ \"\$(curl -sf http://127.0.0.1:$P_ALLOY/-/ready)\" = 'Alloy is ready.' ]"
curl -sf "http://127.0.0.1:$P_ALLOY/metrics" >"$WORK/metrics1.txt"
check "run: /metrics has alloy_build_info v1.13.0" grep -q '^alloy_build_info{.*version="v1.13.0".*} 1$' "$WORK/metrics1.txt"
check "run: /metrics has process_resident_memory_bytes" grep -qE '^process_resident_memory_bytes [1-9][0-9]*$' "$WORK/metrics1.txt"
check "run: OTLP listeners $P_G1/$P_H1 open" bash -c "$(declare -f port_open); port_open $P_G1 && port_open $P_H1"
check "run: OTLP/HTTP accepts POST /v1/traces" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:$P_H1/v1/traces)\" = 200 ]"
check "run: scraped the app over loopback" wait_for 10 bash -c "curl -sf http://127.0.0.1:$P_ALLOY/metrics | grep -qE '^alloy_standin_scrapes_total\{.*result=\"success\".*\} [1-9]'"
check "run: would-send URL shown, no connection" grep -q 'prometheus-prod-01-prod-eu-west-0.grafana.net' "$WORK/alloy.log"
mkcfg $P_G2 $P_H2
kill -HUP $APID
check "SIGHUP: new OTLP ports $P_G2/$P_H2 open" wait_for 10 bash -c "$(declare -f port_open); port_open $P_G2 && port_open $P_H2"
check "SIGHUP: old OTLP ports closed" wait_for 10 bash -c "$(declare -f port_open); ! port_open $P_G1 && ! port_open $P_H1"
printf 'broken "x" {\n' >>"$WORK/run.alloy"
kill -HUP $APID
check "SIGHUP with a bad config: error logged" wait_for 10 grep -q 'level=error msg="failed to reload config"' "$WORK/alloy.log"
check "SIGHUP with a bad config: still ready, old listeners kept" bash -c "$(declare -f port_open); curl -sf http://127.0.0.1:$P_ALLOY/-/ready && port_open $P_G2"
kill -TERM $APID
wait $APID
check "run: exits 0 on SIGTERM" test $? -eq 0
$A13 run --server.http.listen-addr=127.0.0.1:$P_ALLOY --storage.path="$WORK/data" "$WORK/unbalanced.alloy" >/dev/null 2>"$WORK/badrun.log"
rc=$?
check "run: exits 1 on a config that does not parse (rc=$rc)" bash -c "[ $rc -eq 1 ] && grep -q 'unbalanced.alloy:7:1' '$WORK/badrun.log'"

# ------------------------------------------------------------------ apt
$PY -m http.server --bind 127.0.0.1 "$P_REPO" --directory "$WORK" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_for 10 port_open "$P_REPO"
mkdir -p "$WORK/keys"
cp "$OUT/gpg.key" "$WORK/keys/grafana.asc"
cp "$OUT/wrong.key" "$WORK/keys/wrong.asc"
apt_update() { # apt_update KEYFILE REPO_SUBDIR
	local a=$WORK/apt
	rm -rf "$a"
	mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
	echo "deb [signed-by=$1] http://127.0.0.1:$P_REPO/$2/ stable main" >"$a/sources.list"
	APTOPTS=(-o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache" -o Dir::State::Status=/dev/null
		-o Debug::NoLocking=1)
	apt-get "${APTOPTS[@]}" update >"$a/update.log" 2>&1
}
apt_update "$WORK/keys/grafana.asc" repo
check "apt update with signed-by=gpg.key (as .asc) succeeds" bash -c "! grep -qE '^(E|W):' '$WORK/apt/update.log'"
apt-cache "${APTOPTS[@]}" policy alloy >"$WORK/policy.txt" 2>&1
check "apt-cache policy alloy shows 1.13.0 and 1.8.0" bash -c "grep -q ' 1.13.0 500' '$WORK/policy.txt' && grep -q ' 1.8.0 500' '$WORK/policy.txt'"
apt-cache "${APTOPTS[@]}" policy tta-dev-app-standin >"$WORK/policy2.txt" 2>&1
check "apt-cache policy tta-dev-app-standin shows 1.0.0" grep -q 'Candidate: 1.0.0' "$WORK/policy2.txt"
apt_update "$WORK/keys/wrong.asc" repo
check "wrong.key: apt reports NO_PUBKEY" grep -q 'NO_PUBKEY' "$WORK/apt/update.log"
apt_update "$WORK/keys/grafana.asc" tampered
check "tampered copy: apt reports BADSIG" grep -q 'BADSIG' "$WORK/apt/update.log"

# ------------------------------------------------------------------ rpm (optional)
if [ -d "$OUT/rpm" ] && command -v rpm >/dev/null 2>&1; then
	mkdir -p "$WORK/rpmdb"
	rpm --dbpath "$WORK/rpmdb" --import "$OUT/rpm/gpg.key"
	check "rpm -K: both alloy rpms signed and verified" bash -c "rpm --dbpath '$WORK/rpmdb' -K '$OUT'/rpm/Packages/alloy-*.rpm | grep -c 'digests signatures OK' | grep -qx 2"
	gpg --batch -q --dearmor <"$OUT/rpm/gpg.key" >"$WORK/rpmkey.gpg"
	check "repomd.xml.asc verifies" gpgv --keyring "$WORK/rpmkey.gpg" "$OUT/rpm/repodata/repomd.xml.asc" "$OUT/rpm/repodata/repomd.xml"
	if command -v dnf >/dev/null 2>&1; then # optional: dnf is not in packages.txt
		dnf_agents_stop() { # dnf starts a gpg-agent per repo key ring: stop those (only those)
			local d
			for d in "$WORK"/dnf/root/var/cache/dnf/*/pubring; do
				[ -d "$d" ] && gpgconf --homedir "$d" --kill gpg-agent >/dev/null 2>&1
			done
			return 0
		}
		dnf_list() { # dnf_list REPO_SUBDIR
			dnf_agents_stop
			rm -rf "$WORK/dnf"
			mkdir -p "$WORK/dnf/root" "$WORK/dnf/repos"
			sed "s|REPO_URL|http://127.0.0.1:$P_REPO/$1/rpm|g" "$OUT/rpm/grafana.repo.example" >"$WORK/dnf/repos/grafana.repo"
			dnf -y --installroot="$WORK/dnf/root" --releasever=9 --forcearch=x86_64 \
				--setopt=reposdir="$WORK/dnf/repos" list --showduplicates alloy >"$WORK/dnf/list.log" 2>&1
		}
		dnf_list repo
		check "dnf (repo_gpgcheck=1) lists alloy 1.13.0 and 1.8.0" bash -c "grep -q '1.13.0-1' '$WORK/dnf/list.log' && grep -q '1.8.0-1' '$WORK/dnf/list.log'"
		dnf_list tampered
		check "dnf rejects the tampered rpm repo" grep -q 'Bad GPG signature' "$WORK/dnf/list.log"
		dnf_agents_stop
	fi
else
	echo "#   rpm part skipped (no $OUT/rpm or no rpm tool)"
fi

echo "#   work dir: $WORK"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
