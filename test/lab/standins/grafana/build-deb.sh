#!/usr/bin/env bash
# Builds the drover test lab's STAND-IN `grafana` .deb (NOT Grafana). Called by ../build.sh:
#   build-deb.sh STANDINS_DIR WORKDIR VERSION OUT.deb
# Same paths as Grafana's Debian package: /usr/share/grafana/bin/grafana,
# /usr/sbin/grafana{,-server}, grafana-server.service, /etc/default/grafana-server,
# /etc/grafana/grafana.ini, /etc/grafana/provisioning/*. mtimes are clamped to
# SOURCE_DATE_EPOCH (exported by build.sh), so the same sources give the same .deb.
set -euo pipefail
HERE=$1 r=$2 v=$3 dest=$4
install -d -m 0755 "$r/DEBIAN" "$r/usr/share/grafana/bin" "$r/usr/sbin" "$r/lib/systemd/system" \
	"$r/etc/default" "$r/usr/share/doc/grafana"
for d in datasources dashboards plugins alerting notifiers; do
	install -d -m 0755 "$r/etc/grafana/provisioning/$d"
done
sed "s/@VERSION@/$v/" "$HERE/grafana/grafana.py" >"$r/usr/share/grafana/bin/grafana"
chmod 0755 "$r/usr/share/grafana/bin/grafana"
ln -s ../share/grafana/bin/grafana "$r/usr/sbin/grafana"
ln -s ../share/grafana/bin/grafana "$r/usr/sbin/grafana-server"
install -m 0644 "$HERE/grafana/grafana-server.service" "$r/lib/systemd/system/grafana-server.service"
install -m 0644 "$HERE/grafana/environment-file" "$r/etc/default/grafana-server"
install -m 0640 "$HERE/grafana/grafana.ini" "$r/etc/grafana/grafana.ini"
printf 'STAND-IN for Grafana %s built by the drover test lab (test/lab/standins/grafana).\nThis is not Grafana.\n' \
	"$v" >"$r/usr/share/doc/grafana/README.standin"
chmod 0644 "$r/usr/share/doc/grafana/README.standin"
install -m 0644 "$HERE/grafana/debian/conffiles" "$r/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$HERE/grafana/debian/$s" "$r/DEBIAN/$s"; done
size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
sed -e "s/@VERSION@/$v/" -e "s/@INSTALLED_SIZE@/$size/" "$HERE/grafana/debian/control.in" >"$r/DEBIAN/control"
chmod 0644 "$r/DEBIAN/control"
find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$(dirname "$dest")"
dpkg-deb --root-owner-group -Zxz --build "$r" "$dest" >/dev/null
