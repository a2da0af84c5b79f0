#!/usr/bin/python3
"""The dashboard in a real browser: headless Chromium driven over the
DevTools protocol (python3-websocket), for tests/scenario/ops_dashboard.c
and for the screenshot in docs/.

  dash_browser.py check ADMIN_PORT TOKEN PROXY_PORT
      Loads /?token=TOKEN, sends hit-only traffic until the page shows a
      rate and a 100 % window hit ratio, stops, then polls until the page's
      numbers (read from the DOM: each value's data-v) match a /stats taken
      meanwhile, and checks the page without the token is refused. Exit 0,
      or 1 with what differed.
  dash_browser.py shot ADMIN_PORT TOKEN OUT.png [WIDTH HEIGHT]
      Loads the page, waits for a minute of history... or what there is, and
      writes a screenshot.

Every wait polls with a deadline; nothing depends on how fast the machine is.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import websocket  # Debian: python3-websocket

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    def __init__(self, width=1280, height=1500):
        self.dir = tempfile.mkdtemp(prefix="rc-dash-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--user-data-dir=" + self.dir, "--remote-debugging-port=0",
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and port is None:
            if self.proc.poll() is not None:
                raise RuntimeError("chromium exited with %s" % self.proc.returncode)
            try:
                with open(port_file) as f:
                    port = int(f.readline())
            except (OSError, ValueError):
                time.sleep(0.1)
        if port is None:
            raise RuntimeError("chromium did not open its DevTools port in 60 s")
        pages = []
        while time.monotonic() < deadline and not pages:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
            except OSError:
                pass
            if not pages:
                time.sleep(0.1)
        if not pages:
            raise RuntimeError("chromium has no page target")
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.seq = 0

    def call(self, method, **params):
        self.seq += 1
        self.ws.send(json.dumps({"id": self.seq, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.seq:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def goto(self, url):
        self.call("Page.navigate", url=url)

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)


def stats(admin, token):
    req = urllib.request.Request("http://127.0.0.1:%d/stats" % admin,
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def poll(what, fn, seconds=60):
    """fn() until it returns something true; its last value and whether it did."""
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.2)


# What the page shows, by element id: its data-v (set by the page next to
# the text a person reads).
READ = """(() => { if (!document.body || !document.getElementById('state')) return {seq: 0};
  const o = {seq: +(document.body.dataset.seq || 0)};
  for (const e of document.querySelectorAll('[data-v]')) o[e.id] = e.dataset.v;
  o.text = {}; for (const e of document.querySelectorAll('[data-v]')) o.text[e.id] = e.textContent;
  o.servers = document.querySelectorAll('#servers tr').length;
  o.state = document.getElementById('state').textContent;
  return o; })()"""


def expected(s):
    """The page's numbers as they follow from one /stats snapshot."""
    hits = s["cache_hit"] + s["cache_hit_stale"]
    look = hits + s["cache_miss"]
    up = sum(1 for x in s["servers"] if x["up"])
    return {
        "t-requests": str(s["requests"]),
        "t-hits": str(hits),
        "t-misses": str(s["cache_miss"]),
        "t-hit": repr_js(hits / look if look else -1),
        "t-lat": "%d/%d" % (s["latency"]["p50_us"], s["latency"]["p99_us"]),
        "t-objects": str(s["cache_objects"]),
        "t-memory": str(s["cache_bytes"]),
        "t-sent": str(s["client_sent_bytes"]),
        "v-conns": str(s["connections"]),
        "v-servers": "%d/%d" % (up, len(s["servers"]) - up),
    }


def repr_js(x):
    """A number as JavaScript's String() writes it (enough for these)."""
    if x == int(x):
        return str(int(x))
    return repr(x)


def traffic(proxy, stop, urls):
    while not stop.is_set():
        for u in urls:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (proxy, u), timeout=10) as r:
                    r.read()
            except OSError:
                pass
        time.sleep(0.02)


def check(admin, token, proxy):
    failures = []
    b = Browser()
    try:
        # Warm the objects the hit-only traffic asks for, then load the page.
        urls = ["/dash/%d?cc=max-age=600" % i for i in range(8)]
        for u in urls:
            urllib.request.urlopen("http://127.0.0.1:%d%s" % (proxy, u), timeout=10).read()
        b.goto("http://127.0.0.1:%d/?token=%s" % (admin, token))
        page = poll("first snapshot", lambda: (lambda o: o if o["seq"] >= 1 else None)(b.eval(READ)))
        if not page:
            return ["the page never showed a snapshot: %s" % b.eval(READ)]
        # While hits flow: a rate above zero and a window hit ratio of 100 %.
        stop = threading.Event()
        t = threading.Thread(target=traffic, args=(proxy, stop, urls), daemon=True)
        t.start()
        live = poll("rate and hit ratio", lambda: (lambda o: o if float(o["v-rps"]) > 0 and
                                                    o["v-hit"] == "1" else None)(b.eval(READ)))
        stop.set()
        t.join(30)
        if not live:
            failures.append("during hit-only traffic the page never showed a rate and a "
                            "100 %% hit ratio: %s" % b.eval(READ))
        else:
            if live["text"]["v-hit"] != "100.0 %":
                failures.append("the hit ratio reads %r, not '100.0 %%'" % live["text"]["v-hit"])
            if float(live["v-p50"]) <= 0 or float(live["v-p99"]) < float(live["v-p50"]):
                failures.append("window p50/p99 %s/%s" % (live["v-p50"], live["v-p99"]))
        # Quiet now: within a refresh or two the page and /stats agree.
        last = {}

        def agree():
            s = stats(admin, token)
            o = b.eval(READ)
            exp = expected(s)
            diff = {k: (o.get(k), v) for k, v in exp.items() if o.get(k) != v}
            last["diff"], last["page"] = diff, o
            return not diff and o["servers"] == len(s["servers"])
        if not poll("page matches /stats", agree):
            failures.append("the page does not match /stats (page, /stats): %s" % last["diff"])
        # Without the token: refused, and no dashboard.
        b.goto("http://127.0.0.1:%d/" % admin)
        body = poll("refusal", lambda: b.eval(
            "document.readyState === 'complete' && document.body ? document.body.innerText : ''"))
        if "bearer token required" not in (body or ""):
            failures.append("the page without a token shows %r" % body)
        if b.eval("!!document.getElementById('v-rps')"):
            failures.append("the page without a token shows the dashboard")
    finally:
        b.close()
    return failures


def shot(admin, token, out, width=1280, height=1500, seconds=40):
    b = Browser(width, height)
    try:
        b.goto("http://127.0.0.1:%d/?token=%s" % (admin, token))
        poll("history", lambda: b.eval(READ)["seq"] >= seconds, seconds + 30)
        png = b.call("Page.captureScreenshot", format="png")["data"]
        with open(out, "wb") as f:
            f.write(base64.b64decode(png))
    finally:
        b.close()


def main(argv):
    if len(argv) >= 5 and argv[1] == "check":
        fails = check(int(argv[2]), argv[3], int(argv[4]))
        for f in fails:
            print("FAIL:", f)
        print("dashboard in chromium: %s" % ("ok" if not fails else "%d failures" % len(fails)))
        return 1 if fails else 0
    if len(argv) >= 5 and argv[1] == "shot":
        size = [int(x) for x in argv[5:7]] if len(argv) >= 7 else [1280, 1500]
        shot(int(argv[2]), argv[3], argv[4], *size)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
