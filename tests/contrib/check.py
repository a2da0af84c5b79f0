#!/usr/bin/python3
"""contrib/ checked against the daemon: the Prometheus rules pass
`promtool check rules`, and every metric that a rule or a Grafana panel
names is one that a running ringcache exports on /metrics.

  check.py SOURCE_DIR RINGCACHE_BIN

Starts RINGCACHE_BIN on free loopback ports (no origin needed: /metrics
lists every series family without traffic), scrapes /metrics once, and
exits 0, or 1 with each problem on a line.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

METRIC = re.compile(r"\bringcache_[a-zA-Z0-9_]+")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(binary):
    """The sample names /metrics exports (with _bucket, _sum, _count)."""
    d = tempfile.mkdtemp(prefix="rc-contrib-")
    port, admin, backend = free_port(), free_port(), free_port()
    cfg = os.path.join(d, "rc.yaml")
    with open(cfg, "w") as f:
        f.write('listen: ["127.0.0.1:%d"]\nthreads: 1\nbackends:\n  - name: app\n'
                '    servers: ["127.0.0.1:%d"]\nadmin:\n  listen: "127.0.0.1:%d"\n'
                % (port, backend, admin))
    log = open(os.path.join(d, "rc.log"), "w")
    p = subprocess.Popen([binary, "-c", cfg], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin, timeout=5) as r:
                    text = r.read().decode()
                break
            except OSError:
                if p.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ringcache did not serve /metrics: see %s" % log.name)
                time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    shutil.rmtree(d, ignore_errors=True)
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, binary = argv[1], argv[2]
    problems = []
    rules = os.path.join(src, "contrib/prometheus/ringcache-alerts.yml")
    graf = os.path.join(src, "contrib/grafana/ringcache.json")
    promtool = shutil.which("promtool")
    if not promtool:
        problems.append("promtool not found (Debian package prometheus; scripts/deps.sh test)")
    else:
        r = subprocess.run([promtool, "check", "rules", rules], capture_output=True, text=True)
        if r.returncode:
            problems.append("promtool check rules: %s%s" % (r.stdout, r.stderr))
    exported = scrape(binary)

    # Rules: the metric names of each expr (Go templates in annotations
    # name labels, not metrics).
    import yaml  # Debian: python3-yaml
    with open(rules) as f:
        doc = yaml.safe_load(f)
    n_rules = 0
    for g in doc["groups"]:
        for rule in g["rules"]:
            n_rules += 1
            for m in set(METRIC.findall(rule["expr"])):
                if m not in exported:
                    problems.append("rule %s: %s is not exported" % (rule["alert"], m))

    with open(graf) as f:
        dash = json.load(f)
    ids, n_exprs = set(), 0
    for panel in dash["panels"]:
        if panel["id"] in ids:
            problems.append("panel id %d twice" % panel["id"])
        ids.add(panel["id"])
        if not panel.get("targets"):
            problems.append("panel %r has no queries" % panel["title"])
        for t in panel.get("targets", []):
            n_exprs += 1
            names = set(METRIC.findall(t["expr"]))
            if not names:
                problems.append("panel %r: %r names no ringcache metric" % (panel["title"], t["expr"]))
            for m in names:
                if m not in exported:
                    problems.append("panel %r: %s is not exported" % (panel["title"], m))
    for v in dash.get("templating", {}).get("list", []):
        for m in set(METRIC.findall(json.dumps(v.get("query", "")))):
            if m not in exported:
                problems.append("variable %s: %s is not exported" % (v["name"], m))
    for p in problems:
        print("FAIL:", p)
    print("contrib: %d rules, %d panel queries, %d exported series names: %s"
          % (n_rules, n_exprs, len(exported), "ok" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
