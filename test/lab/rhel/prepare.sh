#!/usr/bin/env bash
# Makes a running drover lab host "RHEL-like for real" (see README.md here):
#
#   bash test/lab/rhel/prepare.sh HOST      e.g. lab4 (start it first: lab.sh up HOST)
#
# The host stays Debian 12 underneath. It gets Debian's own dnf, rpm and
# firewalld (.debs fetched on this machine from Debian's archive, with exactly
# the dependencies the host lacks, cached in $DROVER_RHEL_CACHE), rpm's
# database in /var/lib/rpm, a base rpm that tells rpm about the dpkg-installed
# sh/python3/useradd (drover-lab-rhel-base.spec), no ufw, and Rocky Linux 9's
# /etc/os-release. drover then takes its RHEL path on it: dnf, /etc/yum.repos.d,
# rpm --import, /etc/sysconfig, firewalld. Idempotent: a prepared host is left
# as it is. Run as root on the lab's control machine (it needs the lab's ssh
# config and apt-get).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOST=${1:?usage: prepare.sh HOST}
CACHE=${DROVER_RHEL_CACHE:-/var/cache/drover-lab/rhel-debs}
SSH_CONFIG=/var/lib/drover-lab/ssh_config
PACKAGES="dnf rpm firewalld"
PKGS=(dnf rpm firewalld)
MARK=/etc/drover-lab-rhel-like
STAMP="drover lab RHEL-like host v1"

log() { printf 'rhel/prepare: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
on_host() { ssh -F "$SSH_CONFIG" -o BatchMode=yes "$HOST" "$@"; }

[[ $HOST =~ ^lab[0-9]+$ ]] || die "HOST must be a lab host name (lab1..lab50), not '$HOST'"
[ -f "$SSH_CONFIG" ] || die "no $SSH_CONFIG: is the lab up? (bash test/lab/lab.sh up $HOST)"
for tool in apt-get rpmbuild flock tar ssh; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install -y apt rpm util-linux tar openssh-client)"
done

if [ "$(on_host cat "$MARK" 2>/dev/null || true)" = "$STAMP" ]; then
	log "$HOST is already RHEL-like"
	exit 0
fi
start=$(date +%s%N)

# ---------------------------------------------------------------- .debs, on this machine
mkdir -p "$CACHE/partial"
exec 9>"$CACHE/.lock"
flock 9
work=$(mktemp -d /tmp/drover-rhel-prepare.XXXXXX)
trap 'rm -rf "$work"' EXIT
on_host cat /var/lib/dpkg/status >"$work/status"
# apt resolves against the HOST's dpkg database (not this machine's) and this
# machine's package lists: what it would install there is exactly what is missing.
apt_host() {
	apt-get -q -y -o Dir::State::status="$work/status" -o Dir::Cache::archives="$CACHE" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 \
		--no-install-recommends "$@"
}
apt_host -s install "${PKGS[@]}" >"$work/plan" 2>&1 || die "apt-get cannot plan '$PACKAGES' for $HOST: $(tail -3 "$work/plan")"
if ! apt_host --download-only install "${PKGS[@]}" >"$work/download" 2>&1; then
	log "download failed; updating this machine's package lists once (apt-get update)"
	apt-get -q update >/dev/null
	apt_host -s install "${PKGS[@]}" >"$work/plan" 2>&1
	apt_host --download-only install "${PKGS[@]}" >"$work/download" 2>&1 || die "apt-get download: $(tail -3 "$work/download")"
fi
# "Inst NAME [OLD] (VERSION SUITE [ARCH])" -> the file apt saved: NAME_VERSION_ARCH.deb (":" as %3a).
mkdir -p "$work/payload"
n=0
while read -r name version arch; do
	f="$CACHE/${name}_${version//:/%3a}_${arch}.deb"
	[ -f "$f" ] || die "apt-get did not save $f"
	ln -s "$f" "$work/payload/"
	n=$((n + 1))
done < <(sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*\[([^]]*)\]\)( \[\])?$/\1 \3 \4/p' "$work/plan")
[ "$n" -eq "$(grep -c '^Inst ' "$work/plan")" ] || die "could not read every 'Inst' line of apt's plan: $(grep '^Inst ' "$work/plan" | head -3)"
[ "$n" -gt 0 ] || die "nothing to install for '$PACKAGES'? $(head -5 "$work/plan")"

# ---------------------------------------------------------------- the base rpm
base="$CACHE/drover-lab-rhel-base-9-1.noarch.rpm"
if [ ! -f "$base" ] || [ "$HERE/drover-lab-rhel-base.spec" -nt "$base" ]; then
	rpmbuild --quiet -bb --define "_topdir $work/rpmbuild" --define "_rpmdir $work/rpms" \
		--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
		"$HERE/drover-lab-rhel-base.spec" >/dev/null
	mv "$work/rpms/drover-lab-rhel-base-9-1.noarch.rpm" "$base"
fi
ln -s "$base" "$work/payload/"
flock -u 9
log "$HOST: installing $n .debs ($(du -shL "$work/payload" | cut -f1)) and the base rpm"

# ---------------------------------------------------------------- on the host
tar -C "$work/payload" -chf - . | on_host 'rm -rf /tmp/drover-rhel && mkdir /tmp/drover-rhel && tar -C /tmp/drover-rhel -xf -'
on_host sh -s <<EOF
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
cd /tmp/drover-rhel
t0=\$(date +%s)
docker_was=\$(systemctl is-active docker 2>/dev/null || true)
containers=0
[ "\$docker_was" = active ] && containers=\$(docker ps -q | wc -l)
# Debian's dnf, rpm and firewalld (firewalld is enabled and started by its postinst).
if ! dpkg --force-unsafe-io -i ./*.deb >/tmp/drover-rhel.dpkg.log 2>&1; then tail -20 /tmp/drover-rhel.dpkg.log >&2; exit 1; fi
echo "rhel/prepare: dpkg -i: \$((\$(date +%s) - t0)) s" >&2
# A RHEL host has no ufw (drover would pick ufw over firewalld if both were there).
dpkg --purge ufw >/dev/null 2>&1 || true
# rpm's database where RHEL keeps it (Debian's rpm defaults to ~/.rpmdb).
mkdir -p /etc/rpm /etc/yum.repos.d /etc/sysconfig
echo '%_dbpath /var/lib/rpm' >/etc/rpm/macros.dbpath
rpm --initdb
rpm -q drover-lab-rhel-base >/dev/null 2>&1 || rpm -i --force-debian ./drover-lab-rhel-base-9-1.noarch.rpm
# Rocky Linux 9's os-release (the fixture of src/facts/mod_test.ts), replacing Debian's symlink.
rm -f /etc/os-release
cat >/etc/os-release <<'OSR'
NAME="Rocky Linux"
VERSION="9.3 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"
OSR
echo 'Rocky Linux release 9.3 (Blue Onyx)' >/etc/redhat-release
# firewalld started after dockerd and flushed Docker's iptables chains; a booting
# RHEL host starts firewalld first. Restart dockerd so it puts them back.
if [ "\$docker_was" = active ]; then
	systemctl restart docker
	i=0
	while [ "\$(docker ps -q | wc -l)" -lt "\$containers" ] && [ \$i -lt 120 ]; do sleep 0.5; i=\$((i + 1)); done
	[ "\$(docker ps -q | wc -l)" -ge "\$containers" ] || { echo "docker: only \$(docker ps -q | wc -l) of \$containers containers came back" >&2; exit 1; }
fi
echo "rhel/prepare: on the host: \$((\$(date +%s) - t0)) s" >&2
[ "\$(firewall-cmd --state 2>&1)" = running ] || { echo "firewalld is not running" >&2; exit 1; }
printf '%s\n' '$STAMP' >$MARK
rm -rf /tmp/drover-rhel /tmp/drover-rhel.dpkg.log
EOF
log "$HOST is RHEL-like (Rocky Linux 9 os-release, dnf, rpm, firewalld) in $((($(date +%s%N) - start) / 1000000)) ms"
