#!/usr/bin/python3
"""ansi2html.py IN.ans OUT.html [TITLE]: a terminal capture (tmux
capture-pane -e: text with SGR colour sequences) as an HTML page drawn like
a dark terminal, for headless Chromium to take a screenshot of
(scripts/screenshot-stat.sh). Only SGR is understood: the capture has no
cursor movement."""
import html
import re
import sys

# xterm's default palette, a little softened for a dark background.
PALETTE = ["#1e1e1e", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#dcdfe4"]
BRIGHT = ["#5c6370", "#ff7b86", "#b5e890", "#ffd68a", "#7cc4ff", "#de9af5", "#6fd6e3", "#ffffff"]
FG, BG = "#dcdfe4", "#1e1e1e"


def convert(text):
    out, state = [], {"fg": None, "bg": None, "bold": False, "rev": False}

    def style():
        fg, bg = state["fg"] or FG, state["bg"] or BG
        if state["rev"]:
            fg, bg = bg, fg
        css = "color:%s;" % fg
        if bg != BG:
            css += "background:%s;" % bg
        if state["bold"]:
            css += "font-weight:bold;"
        return css

    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;]*)m", part)
        if not m:
            if part:
                out.append('<span style="%s">%s</span>' % (style(), html.escape(part)))
            continue
        codes = [int(c) if c else 0 for c in m.group(1).split(";")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                state.update(fg=None, bg=None, bold=False, rev=False)
            elif c == 1:
                state["bold"] = True
            elif c == 22:
                state["bold"] = False
            elif c == 7:
                state["rev"] = True
            elif c == 27:
                state["rev"] = False
            elif 30 <= c <= 37:
                state["fg"] = (BRIGHT if state["bold"] else PALETTE)[c - 30]
            elif 90 <= c <= 97:
                state["fg"] = BRIGHT[c - 90]
            elif c == 39:
                state["fg"] = None
            elif 40 <= c <= 47:
                state["bg"] = PALETTE[c - 40] if c != 44 else "#2b4f81"
            elif c == 49:
                state["bg"] = None
            elif c in (38, 48) and i + 1 < len(codes):
                i += 2 if codes[i + 1] == 5 else 4  # 256 or true colour: not used here
            i += 1
    return "".join(out)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "terminal"
    body = convert(open(src, encoding="utf-8", errors="replace").read().rstrip("\n"))
    with open(dst, "w") as f:
        f.write("""<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>
html, body { margin: 0; background: #101010; }
.term { margin: 14px; padding: 10px 12px; background: %s; border-radius: 6px;
  box-shadow: 0 0 0 1px #333; display: inline-block; }
pre { margin: 0; font: 13px/16px "DejaVu Sans Mono", monospace; color: %s; }
</style></head><body><div class="term"><pre>%s</pre></div></body></html>
""" % (html.escape(title), BG, FG, body))


if __name__ == "__main__":
    main()
