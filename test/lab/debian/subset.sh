#!/usr/bin/env bash
# Publishes a small SUBSET OF DEBIAN 12's ARCHIVE in the lab's package repository:
#
#   bash test/lab/debian/subset.sh [REPO_DIR]      (default /var/cache/drover-lab/repo)
#
# Lab hosts have no route to deb.debian.org. This fetches, on this machine,
# Debian's own .debs of $PACKAGES (default: prometheus) and of every dependency
# a fresh lab host lacks (resolved against the lab rootfs's dpkg database),
# with `apt-get --download-only` (this machine's apt checks them against
# Debian's signed Release), caches them in $DROVER_DEBIAN_SUBSET_CACHE, and
# publishes them as REPO_DIR/debian, served at http://packages.lab:8080/debian:
#
#   deb [signed-by=/etc/apt/keyrings/drover-lab-debian.asc] http://packages.lab:8080/debian bookworm main
#
# The .debs are Debian's bytes; the index (Packages, Release) is made here by
# apt-ftparchive and signed with the lab's stand-in repository key
# (http://packages.lab:8080/gpg.key), since Debian's signed Release lists the
# whole archive. Idempotent: nothing is done when the same packages are
# published already. Needs root, apt-get, apt-ftparchive, gpg and the lab's
# keys (made by test/lab/standins/build.sh, i.e. by `lab.sh up`).
set -euo pipefail

REPO=${1:-/var/cache/drover-lab/repo}
PACKAGES=${PACKAGES:-prometheus}
read -ra PKGS <<<"$PACKAGES"
CACHE=${DROVER_DEBIAN_SUBSET_CACHE:-/var/cache/drover-lab/debian-debs}
ROOTFS_STATUS=/var/cache/drover-lab/rootfs-bookworm/var/lib/dpkg/status
GNUPGHOME=${DROVER_STANDINS_GNUPGHOME:-/var/cache/drover-lab/standins-gnupg}
export GNUPGHOME

log() { printf 'debian/subset: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

for tool in apt-get apt-ftparchive gpg gzip flock; do
	command -v "$tool" >/dev/null || die "missing $tool (apt-get install -y apt-utils gnupg util-linux)"
done
[ -f "$ROOTFS_STATUS" ] || die "no lab rootfs ($ROOTFS_STATUS): run 'bash test/lab/lab.sh up' first"
[ -s "$GNUPGHOME/signing.fpr" ] || die "no lab signing key in $GNUPGHOME: run 'bash test/lab/lab.sh up' first"
FPR=$(cat "$GNUPGHOME/signing.fpr")
mkdir -p "$REPO" "$CACHE/partial"
exec 9>/var/cache/drover-lab/standins-build.lock
flock 9

work=$(mktemp -d /tmp/drover-debian-subset.XXXXXX)
stop_agent() { gpgconf --kill gpg-agent >/dev/null 2>&1 || true; }
trap 'rm -rf "$work"; stop_agent' EXIT

apt_lab() {
	apt-get -q -y -o Dir::State::status="$ROOTFS_STATUS" -o Dir::Cache::archives="$CACHE" \
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 \
		--no-install-recommends "$@"
}
plan() {
	apt_lab -s install "${PKGS[@]}" >"$work/plan" 2>&1 || die "apt-get cannot plan '$PACKAGES': $(tail -3 "$work/plan")"
	sed -nE 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+) .*\[([^]]*)\]\)( \[\])?$/\1_\3_\4.deb/p' "$work/plan" |
		sed 's/:/%3a/g' >"$work/files"
	[ "$(wc -l <"$work/files")" -eq "$(grep -c '^Inst ' "$work/plan")" ] || die "could not read apt's plan: $(grep '^Inst ' "$work/plan" | head -3)"
}
plan
want=$(sort "$work/files" | sha256sum | cut -d' ' -f1)
if [ -f "$REPO/debian/.subset-hash" ] && [ "$(cat "$REPO/debian/.subset-hash")" = "$want" ]; then
	log "$REPO/debian is up to date ($(wc -l <"$work/files") packages)"
	exit 0
fi
if ! apt_lab --download-only install "${PKGS[@]}" >"$work/download" 2>&1; then
	log "download failed; updating this machine's package lists once (apt-get update)"
	apt-get -q update >/dev/null
	plan
	apt_lab --download-only install "${PKGS[@]}" >"$work/download" 2>&1 || die "apt-get download: $(tail -3 "$work/download")"
	want=$(sort "$work/files" | sha256sum | cut -d' ' -f1)
fi

stage=$work/debian
mkdir -p "$stage/pool/main" "$stage/dists/bookworm/main/binary-amd64"
while read -r f; do
	[ -f "$CACHE/$f" ] || die "apt-get did not save $CACHE/$f"
	cp "$CACHE/$f" "$stage/pool/main/"
done <"$work/files"
gpg_q() { gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
(
	cd "$stage"
	apt-ftparchive packages pool/main >dists/bookworm/main/binary-amd64/Packages
	gzip -9n <dists/bookworm/main/binary-amd64/Packages >dists/bookworm/main/binary-amd64/Packages.gz
	apt-ftparchive \
		-o APT::FTPArchive::Release::Origin="Debian (drover lab subset)" \
		-o APT::FTPArchive::Release::Label="drover lab SUBSET of Debian 12 (Debian's packages, index signed by the lab key)" \
		-o APT::FTPArchive::Release::Suite=bookworm \
		-o APT::FTPArchive::Release::Codename=bookworm \
		-o APT::FTPArchive::Release::Architectures=amd64 \
		-o APT::FTPArchive::Release::Components=main \
		release dists/bookworm >"$work/Release"
	mv "$work/Release" dists/bookworm/Release
	gpg_q --local-user "$FPR" --digest-algo SHA512 --clearsign -o dists/bookworm/InRelease dists/bookworm/Release
	gpg_q --local-user "$FPR" --digest-algo SHA512 --armor --detach-sign -o dists/bookworm/Release.gpg dists/bookworm/Release
	gpg_q --armor --export "$FPR" >gpg.key
	cp "$work/files" packages.txt
)
echo "$want" >"$stage/.subset-hash"
rm -rf "${REPO:?}/debian.old"
[ -d "$REPO/debian" ] && mv "$REPO/debian" "$REPO/debian.old"
mv "$stage" "$REPO/debian"
rm -rf "${REPO:?}/debian.old"
log "published $(wc -l <"$work/files") Debian packages ($(du -sh "$REPO/debian/pool" | cut -f1)) for '$PACKAGES' in $REPO/debian"
