#!/usr/bin/python3
"""The dashboard in a real browser: headless Chromium driven over the
DevTools protocol (python3-websocket), for tests/scenario/ops_dashboard.c
and for the screenshot in docs/.

  dash_browser.py check ADMIN_PORT TOKEN PROXY_PORT
      Loads /?token=TOKEN, sends hit-only traffic until the page shows a
      rate and a 100 % window hit ratio, stops, then polls until the page's
      numbers (read from the DOM: each value's data-v) match a /stats taken
      meanwhile; then sends misses to known URLs and 5xx responses (one
      with markup in its target) and polls until the record stream's
      panels rank the URLs with their counts and list the errors, the
      markup as text; checks the page without the token is refused. Exit
      0, or 1 with what differed.
  dash_browser.py shot ADMIN_PORT TOKEN OUT.png [WIDTH HEIGHT [ELEMENT_ID]]
      Loads the page, waits for 40 s of history, scrolls ELEMENT_ID (if
      given) to the top, and writes a screenshot.
  dash_browser.py mix PROXY_PORT SECONDS
      Mixed traffic for the screenshots: mostly hits, misses with a few
      popular uncacheable URLs, some 404s and 5xx.

Every wait polls with a deadline; nothing depends on how fast the machine is.
"""
import base64
import json
import os
import random
import socket
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


def raw_get(proxy, target, host="127.0.0.1"):
    """GET TARGET as written (no quoting: it may carry markup); the status."""
    with socket.create_connection(("127.0.0.1", proxy), timeout=10) as c:
        c.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                  b"\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            part = c.recv(65536)
            if not part:
                break
            data += part
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else -1


# The record stream's two panels: rows as text, counts from data-v.
READ_LOG = """(() => { const rows = (id) => [...document.querySelectorAll('#' + id + ' tr')].map(
    (tr) => [...tr.children].map((td) => td.textContent));
  return {state: document.getElementById('logstate').dataset.v || '',
    records: +(document.body.dataset.records || 0), recent: rows('recent'), top: rows('topmiss'),
    counts: [...document.querySelectorAll('#topmiss td[data-v]')].map((td) => +td.dataset.v),
    imgs: document.querySelectorAll('img').length, scripts: document.querySelectorAll('script').length,
    title: document.title}; })()"""

# Markup in a request-target: the daemon takes it (no spaces), the page
# must show it as text.
EVIL = "/evil<img/src=x/onerror=document.title='pwned'><script>document.title='pwned'</script>?status=503"


def check_log_panels(b, proxy):
    failures = []
    if not poll("record stream", lambda: b.eval(READ_LOG)["state"] == "live"):
        return ["the record stream never opened: %s" % b.eval(READ_LOG)]
    host = "127.0.0.1:%d" % proxy
    # Uncacheable URLs miss every time (then as hit-for-miss passes).
    misses = {"/top/a?cc=no-store": 9, "/top/b?cc=no-store": 6, "/top/c?cc=no-store": 3}
    order = [u for u, n in misses.items() for _ in range(n)]
    order += ["/top/once/%d?cc=max-age=600" % i for i in range(4)]
    random.Random(17).shuffle(order)
    for u in order:
        if raw_get(proxy, u, host) != 200:
            failures.append("%s did not answer 200" % u)
    errors = {"/err/1?status=503": "503", "/err/2?status=502": "502", EVIL: "503"}
    for u, st in errors.items():
        got = raw_get(proxy, u, host)
        if str(got) != st:
            failures.append("%s answered %s, not %s" % (u, got, st))
    want_top = [[str(i + 1), host + u, str(n)] for i, (u, n) in enumerate(misses.items())]
    last = {}

    def shown():
        o = b.eval(READ_LOG)
        last["o"] = o
        top = [r[:3] for r in o["top"][:3]]
        listed = {(r[1], r[2]) for r in o["recent"]}
        want = {(st, "GET " + host + u) for u, st in errors.items()}
        return top == want_top and want <= listed and len(o["recent"]) == len(errors)
    if not poll("panels", shown, 30):
        o = last["o"]
        failures.append("the panels do not show the traffic: top %s (want %s), recent %s" %
                        (o["top"], want_top, o["recent"]))
    o = last["o"]
    # 3 + 1-offs + the 3 errors (each a miss once): 10 rows at most.
    if len(o["top"]) != min(10, 3 + 4 + 3) or o["counts"] != sorted(o["counts"], reverse=True):
        failures.append("top missed rows %s" % o["top"])
    if o["recent"] and o["recent"][0][1:3] != ["503", "GET " + host + EVIL]:
        failures.append("the newest error is not listed first: %s" % o["recent"])
    if o["imgs"] or o["scripts"] != 1 or o["title"] != "ringcache":
        failures.append("a record's markup became elements: %d img, %d script, title %r" %
                        (o["imgs"], o["scripts"], o["title"]))
    return failures


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
        failures += check_log_panels(b, proxy)
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


def shot(admin, token, out, width=1280, height=1500, at=None, seconds=40):
    b = Browser(width, height)
    try:
        b.goto("http://127.0.0.1:%d/?token=%s" % (admin, token))
        poll("history", lambda: b.eval(READ)["seq"] >= seconds, seconds + 30)
        if at:
            b.eval("document.getElementById(%s).scrollIntoView()" % json.dumps(at))
            time.sleep(0.5)
        png = b.call("Page.captureScreenshot", format="png")["data"]
        with open(out, "wb") as f:
            f.write(base64.b64decode(png))
    finally:
        b.close()


def mix(proxy, seconds):
    """Traffic that fills every panel: hits on a warm set, misses on a few
    popular uncacheable URLs and a long tail, some 404s, 503s and 502s."""
    rnd = random.Random(1)
    popular = ["/api/cart?cc=no-store", "/api/session?cc=no-store", "/search?q=shoes&cc=private",
               "/feed.json?cc=no-cache,no-store", "/img/banner.jpg?cc=max-age=1"]
    weights = [40, 25, 12, 8, 4]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        x = rnd.random()
        if x < 0.70:
            u = "/static/%d.css?cc=max-age=3600&size=%d" % (rnd.randrange(40), 4096 + 97 * rnd.randrange(60))
        elif x < 0.88:
            u = rnd.choices(popular, weights)[0]
        elif x < 0.94:
            u = "/product/%d?cc=max-age=60&size=12000" % rnd.randrange(100000)
        elif x < 0.985:
            u = "/old/page-%d?status=404" % rnd.randrange(20)
        elif x < 0.995:
            u = "/api/checkout?status=503&cc=no-store"
        else:
            u = "/api/report?status=502&delay=30"
        try:
            raw_get(proxy, u, "shop.example")
        except OSError:
            pass
        time.sleep(0.008)


def main(argv):
    if len(argv) >= 5 and argv[1] == "check":
        fails = check(int(argv[2]), argv[3], int(argv[4]))
        for f in fails:
            print("FAIL:", f)
        print("dashboard in chromium: %s" % ("ok" if not fails else "%d failures" % len(fails)))
        return 1 if fails else 0
    if len(argv) >= 5 and argv[1] == "shot":
        size = [int(x) for x in argv[5:7]] if len(argv) >= 7 else [1280, 1500]
        shot(int(argv[2]), argv[3], argv[4], *size, at=argv[7] if len(argv) >= 8 else None)
        return 0
    if len(argv) >= 4 and argv[1] == "mix":
        mix(int(argv[2]), float(argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
