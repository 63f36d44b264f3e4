#!/usr/bin/python3
# STAND-IN for Grafana built by the drover test lab (test/lab/standins/grafana).
# This is NOT Grafana. `grafana server --config=FILE cfg:default.paths.X=DIR ...`
# (also called as grafana-server) serves, on [server] http_addr:http_port of
# FILE (default 0.0.0.0:3000): /api/health, /api/datasources (the datasources
# provisioned in DIR/datasources/*.yaml, read at start like Grafana does),
# /metrics and a login page that says STAND-IN. No auth, no database, no
# dashboards. It never connects anywhere.
import json
import os
import re
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "@VERSION@"


def read_ini(path):
    """[section] key = value; ';' and '#' start comments."""
    out, section = {}, ""
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line[0] in ";#":
                    continue
                m = re.match(r"^\[([^\]]+)\]$", line)
                if m:
                    section = m.group(1).strip()
                    continue
                m = re.match(r"^([A-Za-z0-9_.]+)\s*=\s*(.*)$", line)
                if m:
                    out[(section, m.group(1))] = m.group(2).strip().strip('"')
    except OSError as e:
        sys.stderr.write('logger=settings level=error msg="cannot read config" file=%s err="%s"\n' % (path, e))
        sys.exit(1)
    return out


def scalar(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    if v in ("true", "false"):
        return v == "true"
    return v


def read_datasources(directory):
    """The `datasources:` list of each *.yaml/*.yml file (a line-based reading, enough for flat entries)."""
    found = []
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith((".yaml", ".yml")))
    except OSError:
        return found
    for name in names:
        inside, current = False, None
        with open(os.path.join(directory, name)) as f:
            for raw in f:
                line = raw.split(" #", 1)[0].rstrip()
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if not line[0].isspace():
                    inside = line.startswith("datasources:")
                    current = None
                    continue
                if not inside:
                    continue
                m = re.match(r"^\s*-\s+([A-Za-z_]+):\s*(.*)$", line)
                if m:
                    current = {m.group(1): scalar(m.group(2))}
                    found.append(current)
                    continue
                m = re.match(r"^\s+([A-Za-z_]+):\s*(.*)$", line)
                if m and current is not None:
                    current[m.group(1)] = scalar(m.group(2))
    return [
        {"id": i + 1, "name": d.get("name", ""), "type": d.get("type", ""), "url": d.get("url", ""),
         "access": d.get("access", "proxy"), "isDefault": d.get("isDefault", False)}
        for i, d in enumerate(found)
    ]


def main(argv):
    prog = os.path.basename(argv[0])
    args = argv[1:]
    if args[:1] in (["-v"], ["--version"], ["-V"]):
        print("grafana version %s (drover lab stand-in)" % VERSION)
        return 0
    if prog != "grafana-server":
        if args[:1] != ["server"]:
            sys.stderr.write("STAND-IN grafana: only 'server' and '--version' are imitated\n")
            return 2
        args = args[1:]
    config, paths, pidfile = "/etc/grafana/grafana.ini", {}, None
    for a in args:
        if a.startswith("--config="):
            config = a.split("=", 1)[1]
        elif a.startswith("--pidfile="):
            pidfile = a.split("=", 1)[1]
        elif a.startswith("cfg:default.paths."):
            k, v = a[len("cfg:default.paths."):].split("=", 1)
            paths[k] = v
    ini = read_ini(config)
    host = ini.get(("server", "http_addr"), "") or "0.0.0.0"
    port = int(ini.get(("server", "http_port"), "3000") or 3000)
    prov = paths.get("provisioning", "/etc/grafana/provisioning")
    datasources = read_datasources(os.path.join(prov, "datasources"))
    data = paths.get("data", "/var/lib/grafana")
    try:
        with open(os.path.join(data, "STANDIN-no-grafana.db"), "w") as f:
            f.write("drover lab stand-in: Grafana would keep grafana.db here\n")
    except OSError as e:
        sys.stderr.write('logger=sqlstore level=error msg="data path not writable" path=%s err="%s"\n' % (data, e))
        return 1

    class Handler(BaseHTTPRequestHandler):
        server_version = "grafana-standin"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def reply(self, code, body, ctype="application/json"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/api/health":
                self.reply(200, json.dumps({"commit": "standin", "database": "ok", "version": VERSION,
                                            "standin": "drover lab STAND-IN, not Grafana"}))
            elif path == "/api/datasources":
                self.reply(200, json.dumps(datasources))
            elif path == "/metrics":
                self.reply(200, 'grafana_build_info{version="%s",edition="standin"} 1\n' % VERSION,
                           "text/plain; version=0.0.4")
            elif path in ("/", "/login"):
                self.reply(200, "<html><body><h1>STAND-IN for Grafana %s (drover test lab)</h1>"
                                "<p>This is not Grafana.</p></body></html>\n" % VERSION, "text/html")
            else:
                self.reply(404, json.dumps({"message": "Not found"}))

    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    cls = type("S", (ThreadingHTTPServer,), {"address_family": fam, "daemon_threads": True,
                                              "allow_reuse_address": True})
    try:
        srv = cls((host, port), Handler)
    except OSError as e:
        sys.stderr.write('logger=server level=error msg="cannot listen" address=%s:%d err="%s"\n' % (host, port, e))
        return 1
    if pidfile:
        try:
            with open(pidfile, "w") as f:
                f.write("%d\n" % os.getpid())
        except OSError:
            pass
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    sys.stderr.write('logger=server level=info msg="STAND-IN Grafana %s (drover test lab) listening" '
                     'address=%s:%d provisioned_datasources=%d\n' % (VERSION, host, port, len(datasources)))
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
