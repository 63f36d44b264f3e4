#!/usr/bin/env bash
# Builds the drover test lab's STAND-IN package repository (NOT Grafana's).
#
#   bash test/lab/standins/build.sh OUTDIR            build (or reuse) the repo in OUTDIR
#   bash test/lab/standins/build.sh --tamper OUTDIR   same, then corrupt the signed
#                                                     metadata so apt reports BADSIG
#                                                     (and dnf a bad repomd.xml signature)
#
# OUTDIR is laid out like https://apt.grafana.com:
#   gpg.key                      armored public signing key (apt signed-by / rpm --import)
#   wrong.key                    armored public key of a DIFFERENT key (apt: NO_PUBKEY)
#   dists/stable/{Release,InRelease,Release.gpg}
#   dists/stable/main/binary-amd64/Packages{,.gz}
#   pool/main/a/alloy/alloy_{1.13.0,1.8.0}_amd64.deb
#   pool/main/t/tta-dev-app-standin/tta-dev-app-standin_1.0.0_all.deb
#   rpm/ (when rpmbuild and createrepo_c are installed): signed yum/dnf repo
#   keys.txt                     fingerprints of both keys
# The signing keys live in $DROVER_STANDINS_GNUPGHOME
# (default /var/cache/drover-lab/standins-gnupg), created once and reused.
# A second run with unchanged sources and keys does nothing (hash in
# OUTDIR/.standins-build-hash). Needs the Debian packages in packages.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=/var/cache/drover-lab
GNUPGHOME=${DROVER_STANDINS_GNUPGHOME:-$CACHE/standins-gnupg}
export GNUPGHOME
ALLOY_VERSIONS="1.13.0 1.8.0"
TTA_VERSION="1.0.0"
GRAFANA_VERSION="11.3.0"
# Fixed timestamps so that rebuilding the same sources gives the same .debs.
export SOURCE_DATE_EPOCH=1767225600 # 2026-01-01T00:00:00Z
SIGN_UID="drover lab stand-in repo signing key (NOT Grafana) <drover-lab@example.invalid>"
WRONG_UID="drover lab WRONG key, must not verify the stand-in repo <drover-lab-wrong@example.invalid>"

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

tamper=0
if [ "${1:-}" = "--tamper" ]; then
	tamper=1
	shift
fi
[ $# -eq 1 ] || usage
case "$1" in -*) usage ;; esac
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

missing=()
for tool in dpkg-deb apt-ftparchive gpg gpgconf gzip sha256sum flock; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "build.sh: missing tools: ${missing[*]}" >&2
	echo "build.sh: apt-get install -y $(grep -v '^#' "$HERE/packages.txt" | tr '\n' ' ')" >&2
	exit 1
fi
have_rpm=0
if command -v rpmbuild >/dev/null 2>&1 && command -v createrepo_c >/dev/null 2>&1 && command -v rpmsign >/dev/null 2>&1; then
	have_rpm=1
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/standins-build.lock"
flock 9

# ---------------------------------------------------------------- keys
gpg_q() { gpg --batch --quiet --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
stop_agent() { gpgconf --kill gpg-agent >/dev/null 2>&1 || true; }
trap stop_agent EXIT

ensure_key() { # $1 = name (signing|wrong), $2 = uid
	local fprfile="$GNUPGHOME/$1.fpr"
	if [ -s "$fprfile" ] && gpg_q --list-secret-keys "$(cat "$fprfile")" >/dev/null 2>&1; then
		return
	fi
	echo "build.sh: generating the $1 key in $GNUPGHOME (once)" >&2
	gpg_q --quick-generate-key "$2" rsa3072 sign never
	gpg_q --list-secret-keys --with-colons "$2" | awk -F: '$1=="fpr"{print $10; exit}' >"$fprfile"
}
mkdir -p "$GNUPGHOME"
chmod 700 "$GNUPGHOME"
ensure_key signing "$SIGN_UID"
ensure_key wrong "$WRONG_UID"
SIGN_FPR=$(cat "$GNUPGHOME/signing.fpr")
WRONG_FPR=$(cat "$GNUPGHOME/wrong.fpr")

# ---------------------------------------------------------------- cache check
src_hash=$(
	cd "$HERE"
	{
		find . -type f ! -name README.md ! -name selftest.sh ! -name .gitignore ! -name '*.pyc' ! -path '*/__pycache__/*' \
			-print0 | sort -z | xargs -0 sha256sum
		echo "versions $ALLOY_VERSIONS $TTA_VERSION $GRAFANA_VERSION keys $SIGN_FPR $WRONG_FPR rpm $have_rpm"
	} | sha256sum | cut -d' ' -f1
)
if [ $tamper -eq 0 ] && [ -f "$OUT/.standins-build-hash" ] && [ "$(cat "$OUT/.standins-build-hash")" = "$src_hash" ] &&
	[ -f "$OUT/dists/stable/InRelease" ]; then
	echo "build.sh: $OUT is up to date"
	exit 0
fi

start=$(date +%s.%N)
STAGE=$(mktemp -d "$CACHE/standins-stage.XXXXXX")
cleanup() { rm -rf "$STAGE"; stop_agent; }
trap cleanup EXIT
REPO=$STAGE/repo
mkdir -p "$REPO"

# Sets every mtime under $1 to SOURCE_DATE_EPOCH.
clamp_mtimes() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

# build_deb ROOT CONTROL_IN VERSION DEST
build_deb() {
	local root=$1 control_in=$2 version=$3 dest=$4 size
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	sed -e "s/@VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" "$control_in" >"$root/DEBIAN/control"
	chmod 0755 "$root/DEBIAN"
	chmod 0644 "$root/DEBIAN/control"
	[ -f "$root/DEBIAN/conffiles" ] && chmod 0644 "$root/DEBIAN/conffiles"
	clamp_mtimes "$root"
	mkdir -p "$(dirname "$dest")"
	dpkg-deb --root-owner-group -Zxz --build "$root" "$dest" >/dev/null
}

# ---------------------------------------------------------------- alloy .debs
for v in $ALLOY_VERSIONS; do
	r=$STAGE/alloy-$v
	install -d -m 0755 "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/default" "$r/etc/alloy" \
		"$r/usr/share/doc/alloy"
	sed "s/@VERSION@/$v/" "$HERE/alloy/alloy.py" >"$r/usr/bin/alloy"
	chmod 0755 "$r/usr/bin/alloy"
	install -m 0644 "$HERE/alloy/alloy.service" "$r/lib/systemd/system/alloy.service"
	install -m 0644 "$HERE/alloy/environment-file" "$r/etc/default/alloy"
	install -m 0644 "$HERE/alloy/config.alloy" "$r/etc/alloy/config.alloy"
	printf 'STAND-IN for Grafana Alloy %s built by the drover test lab (test/lab/standins).\nThis is not Grafana Alloy.\n' \
		"$v" >"$r/usr/share/doc/alloy/README.standin"
	chmod 0644 "$r/usr/share/doc/alloy/README.standin"
	install -m 0644 "$HERE/alloy/debian/conffiles" "$r/DEBIAN/conffiles"
	for s in postinst prerm postrm; do install -m 0755 "$HERE/alloy/debian/$s" "$r/DEBIAN/$s"; done
	build_deb "$r" "$HERE/alloy/debian/control.in" "$v" "$REPO/pool/main/a/alloy/alloy_${v}_amd64.deb"
done

# ---------------------------------------------------------------- tta-dev-app-standin .deb
r=$STAGE/tta
install -d -m 0755 "$r/DEBIAN" "$r/usr/bin" "$r/lib/systemd/system" "$r/etc/default"
sed "s/@VERSION@/$TTA_VERSION/" "$HERE/tta-dev-app/tta-dev-app.py" >"$r/usr/bin/tta-dev-app"
chmod 0755 "$r/usr/bin/tta-dev-app"
install -m 0644 "$HERE/tta-dev-app/tta-dev-app.service" "$r/lib/systemd/system/tta-dev-app.service"
install -m 0644 "$HERE/tta-dev-app/environment-file" "$r/etc/default/tta-dev-app"
install -m 0644 "$HERE/tta-dev-app/debian/conffiles" "$r/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$HERE/tta-dev-app/debian/$s" "$r/DEBIAN/$s"; done
build_deb "$r" "$HERE/tta-dev-app/debian/control.in" "$TTA_VERSION" \
	"$REPO/pool/main/t/tta-dev-app-standin/tta-dev-app-standin_${TTA_VERSION}_all.deb"

# ---------------------------------------------------------------- grafana .deb (stand-in, see grafana/)
bash "$HERE/grafana/build-deb.sh" "$HERE" "$STAGE/grafana" "$GRAFANA_VERSION" \
	"$REPO/pool/main/g/grafana/grafana_${GRAFANA_VERSION}_amd64.deb"

# ---------------------------------------------------------------- apt metadata
gpg_q --armor --export "$SIGN_FPR" >"$REPO/gpg.key"
gpg_q --armor --export "$WRONG_FPR" >"$REPO/wrong.key"
printf 'signing %s\nwrong %s\n' "$SIGN_FPR" "$WRONG_FPR" >"$REPO/keys.txt"
(
	cd "$REPO"
	mkdir -p dists/stable/main/binary-amd64
	apt-ftparchive packages pool/main >dists/stable/main/binary-amd64/Packages
	gzip -9n <dists/stable/main/binary-amd64/Packages >dists/stable/main/binary-amd64/Packages.gz
	apt-ftparchive \
		-o APT::FTPArchive::Release::Origin="drover-lab-standin" \
		-o APT::FTPArchive::Release::Label="drover lab STAND-IN of apt.grafana.com" \
		-o APT::FTPArchive::Release::Suite=stable \
		-o APT::FTPArchive::Release::Codename=stable \
		-o APT::FTPArchive::Release::Architectures=amd64 \
		-o APT::FTPArchive::Release::Components=main \
		-o APT::FTPArchive::Release::Description="STAND-IN packages built by the drover test lab (not Grafana's)" \
		release dists/stable >"$STAGE/Release"
	mv "$STAGE/Release" dists/stable/Release
	gpg_q --local-user "$SIGN_FPR" --digest-algo SHA512 --clearsign -o dists/stable/InRelease dists/stable/Release
	gpg_q --local-user "$SIGN_FPR" --digest-algo SHA512 --armor --detach-sign -o dists/stable/Release.gpg dists/stable/Release
)

# ---------------------------------------------------------------- rpm (optional)
if [ $have_rpm -eq 1 ]; then
	bash "$HERE/rpm/build-rpm.sh" "$HERE" "$STAGE/rpmbuild" "$REPO/rpm" "$SIGN_FPR" $ALLOY_VERSIONS
	cp "$REPO/gpg.key" "$REPO/rpm/gpg.key"
else
	echo "build.sh: rpmbuild/createrepo_c/rpmsign not installed: skipping OUTDIR/rpm" >&2
fi

# ---------------------------------------------------------------- publish into OUT
# Replace entries one by one (OUT itself stays, so a server started in it keeps working).
rm -f "$OUT/.standins-build-hash"
for e in gpg.key wrong.key keys.txt dists pool rpm; do
	rm -rf "${OUT:?}/$e"
	if [ -e "$REPO/$e" ]; then mv "$REPO/$e" "$OUT/$e"; fi
done

if [ $tamper -eq 1 ]; then
	# Change signed text but keep the signatures: gpgv/apt report BADSIG.
	for f in "$OUT/dists/stable/InRelease" "$OUT/dists/stable/Release"; do
		sed -i 's/^Label: drover lab STAND-IN of apt.grafana.com$/Label: drover lab STAND-IN of apt.grafana.con/' "$f"
		grep -q 'grafana.con$' "$f" || { echo "build.sh: tampering failed on $f" >&2; exit 1; }
	done
	if [ -f "$OUT/rpm/repodata/repomd.xml" ]; then # dnf: "repomd.xml GPG signature verification error"
		sed -i 's|<revision>|<revision>9|' "$OUT/rpm/repodata/repomd.xml"
	fi
	echo "tampered" >"$OUT/.standins-build-hash"
	echo "build.sh: TAMPERED repository in $OUT (apt must report BADSIG)"
else
	echo "$src_hash" >"$OUT/.standins-build-hash"
	echo "build.sh: built $OUT in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')s"
fi
