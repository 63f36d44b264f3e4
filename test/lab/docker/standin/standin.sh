#!/bin/sh
# drover test lab: stand-in for an observability image (NOT the real software).
# Usage: standin.sh NAME PORT...   -- holds every PORT with a busybox httpd.
name=$1; shift
trap 'exit 0' TERM INT   # PID 1 ignores SIGTERM without a handler
mkdir -p /www/-/ /www/api
echo "drover lab stand-in for $name (busybox, not the real image)" > /www/index.html
echo "OK" > /www/-/healthy
echo "OK" > /www/-/ready
echo '{"database":"ok","standin":true}' > /www/api/health
printf '# drover lab stand-in for %s\nup 1\n' "$name" > /www/metrics
# mark any mounted data volume, like the real service would write data there
for d in /prometheus /var/lib/grafana; do
  [ -d "$d" ] && date > "$d/standin-$name.txt" 2>/dev/null
done
for p in "$@"; do
  httpd -f -p "$p" -h /www &
done
echo "stand-in $name listening on: $*"
wait
