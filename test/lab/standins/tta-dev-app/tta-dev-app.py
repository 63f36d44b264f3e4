#!/usr/bin/python3
# STAND-IN for the user's "tta" development app, built by the drover test lab.
# Serves Prometheus text metrics on TTA_LISTEN (default 0.0.0.0:9464) at /metrics.
# It makes no outbound connections.
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "@VERSION@"
START = time.time()
LOCK = threading.Lock()
REQUESTS = {}  # (path, code) -> count


def rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Handler(BaseHTTPRequestHandler):
    server_version = "tta-dev-app-standin"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, ctype="text/plain; charset=utf-8", counted=False):
        if not counted:
            count(self.path, code)
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            count(path, 200)  # counted before rendering: the first scrape already shows 1
            self.reply(200, metrics(), "text/plain; version=0.0.4; charset=utf-8", counted=True)
        elif path == "/healthz":
            self.reply(200, "ok\n")
        elif path == "/":
            self.reply(200, "tta-dev-app STAND-IN (drover test lab)\n")
        else:
            self.reply(404, "not found\n")


def count(path, code):
    path = path.split("?", 1)[0]
    label = path if path in ("/", "/metrics", "/healthz") else "other"
    with LOCK:
        REQUESTS[(label, code)] = REQUESTS.get((label, code), 0) + 1


def metrics():
    with LOCK:
        reqs = sorted(REQUESTS.items())
    lines = [
        "# HELP tta_build_info Build information of the tta-dev-app stand-in.",
        "# TYPE tta_build_info gauge",
        'tta_build_info{version="%s",standin="true"} 1' % VERSION,
        "# HELP tta_requests_total HTTP requests served, by path and code.",
        "# TYPE tta_requests_total counter",
    ]
    for (path, code), n in reqs:
        lines.append('tta_requests_total{path="%s",code="%d"} %d' % (path, code, n))
    lines += [
        "# HELP tta_up Always 1 while the app runs.",
        "# TYPE tta_up gauge",
        "tta_up 1",
        "# HELP process_resident_memory_bytes Resident memory size in bytes.",
        "# TYPE process_resident_memory_bytes gauge",
        "process_resident_memory_bytes %d" % rss_bytes(),
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
        "# TYPE process_start_time_seconds gauge",
        "process_start_time_seconds %.3f" % START,
    ]
    return "\n".join(lines) + "\n"


def main():
    addr = os.environ.get("TTA_LISTEN", "0.0.0.0:9464")
    m = re.match(r"^\[?([^\]]*)\]?:(\d+)$", addr)
    if not m:
        sys.stderr.write("tta-dev-app: bad TTA_LISTEN %r\n" % addr)
        return 2
    host, port = m.group(1) or "0.0.0.0", int(m.group(2))
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    cls = type("S", (ThreadingHTTPServer,), {"address_family": fam, "daemon_threads": True,
                                              "allow_reuse_address": True})
    try:
        srv = cls((host, port), Handler)
    except OSError as e:
        sys.stderr.write("tta-dev-app: cannot listen on %s: %s\n" % (addr, e))
        return 1
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    sys.stderr.write("tta-dev-app STAND-IN v%s listening on %s (metrics at /metrics)\n" % (VERSION, addr))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
