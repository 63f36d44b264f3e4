#!/usr/bin/env bash
# Builds the STAND-IN alloy rpms and a signed yum/dnf repository. Called by ../build.sh:
#   build-rpm.sh STANDINS_DIR WORKDIR REPO_OUT SIGNING_FPR VERSION...
# Uses GNUPGHOME from the environment.
set -euo pipefail
HERE=$1 WORK=$2 OUT=$3 FPR=$4
shift 4
mkdir -p "$OUT" "$WORK"
for v in "$@"; do
	src=$WORK/src-$v
	mkdir -p "$src"
	sed "s/@VERSION@/$v/" "$HERE/alloy/alloy.py" >"$src/alloy.bin"
	# Same unit as the deb, with the RPM environment file (like Grafana's rpm unit).
	sed -e 's|EnvironmentFile=/etc/default/alloy|EnvironmentFile=/etc/sysconfig/alloy|' \
		-e 's|ALLOY_DEPLOY_MODE=deb|ALLOY_DEPLOY_MODE=rpm|' -e 's|packaging/deb/alloy.service|packaging/rpm/alloy.service|' \
		"$HERE/alloy/alloy.service" >"$src/alloy.service"
	cp "$HERE/alloy/environment-file" "$HERE/alloy/config.alloy" "$src/"
	find "$src" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	rpmbuild --quiet -bb \
		--define "_topdir $WORK/top" \
		--define "_rpmdir $OUT/Packages" \
		--define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
		--define "standin_version $v" \
		--define "srcdir $src" \
		--define "use_source_date_epoch_as_buildtime 1" \
		--define "clamp_mtime_to_source_date_epoch 1" \
		--define "_buildhost drover-lab" \
		"$HERE/rpm/alloy.spec" >/dev/null
done
# rpmsign warns "Could not set GPG_TTY" without a terminal: keep its output for failures only.
if ! rpmsign --addsign \
	--define "_gpg_name $FPR" \
	--define "_gpg_path $GNUPGHOME" \
	--define "__gpg $(command -v gpg)" \
	"$OUT"/Packages/*.rpm </dev/null >"$WORK/rpmsign.log" 2>&1; then
	cat "$WORK/rpmsign.log" >&2
	exit 1
fi
createrepo_c --quiet --no-database --revision "$SOURCE_DATE_EPOCH" "$OUT" >/dev/null
gpg --batch --quiet --yes --pinentry-mode loopback --passphrase '' --local-user "$FPR" \
	--armor --detach-sign -o "$OUT/repodata/repomd.xml.asc" "$OUT/repodata/repomd.xml"
cat >"$OUT/grafana.repo.example" <<REPO
# Example /etc/yum.repos.d/grafana.repo for the drover lab STAND-IN rpm repo.
# Replace REPO_URL with where OUTDIR/rpm is served (the real one is https://rpm.grafana.com).
[grafana]
name=grafana (drover lab STAND-IN)
baseurl=REPO_URL
repo_gpgcheck=1
enabled=1
gpgcheck=1
gpgkey=REPO_URL/gpg.key
REPO
