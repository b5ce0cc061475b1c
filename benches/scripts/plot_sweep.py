#!/usr/bin/env python3
"""Plots msgs/s and p99 latency against connection count from the summary
tables compare-echo.sh printed (files echo-cN.txt in a folder), as one SVG
with two panels. No plotting library needed: the SVG is written by hand.

usage: plot_sweep.py DIR OUT.svg
"""
import math
import pathlib
import re
import sys

COLORS = {"weft": "#d62728", "tokio_ct": "#1f77b4", "epoll": "#2ca02c"}


def read(folder):
    """{server: {conns: (msgs_per_s, p99_us)}} from the summary tables."""
    data = {}
    for path in sorted(pathlib.Path(folder).glob("echo-c*.txt")):
        conns = int(re.search(r"echo-c(\d+)", path.name).group(1))
        in_table = False
        for line in path.read_text().splitlines():
            if line.startswith("server "):
                in_table = True
                continue
            if in_table:
                cols = line.split()
                if len(cols) < 4 or cols[0].startswith("ratio"):
                    in_table = False
                    continue
                rate = float(cols[1].replace(",", ""))
                p99 = float(cols[3].replace(",", "")) if cols[3] != "n/a" else math.nan
                data.setdefault(cols[0], {})[conns] = (rate, p99)
    return data


def nice_ticks(lo, hi, log):
    """Round tick values between lo and hi (log10 units when log)."""
    if log:
        ticks = [m * 10**e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in (1, 2, 5)]
        return [t for t in ticks if lo <= math.log10(t) <= hi]
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9) / 4))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= 6:
            step *= m
            break
    return [i * step for i in range(int(lo // step), int(hi // step) + 1) if lo <= i * step <= hi]


def panel(x0, y0, w, h, title, ylabel, series, log_y):
    """One chart: series = {name: [(conns, value)]}, log-scale x."""
    xs = sorted({c for pts in series.values() for c, _ in pts})
    ys = [v for pts in series.values() for _, v in pts if v == v and v > 0]
    if not xs or not ys:
        return []
    lx = lambda c: math.log10(c)
    xmin, xmax = lx(xs[0]), lx(xs[-1])
    if log_y:
        ymin, ymax = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1
        fy = math.log10
    else:
        ymin, ymax = 0.0, max(ys) * 1.1
        fy = lambda v: v
    px = lambda c: x0 + 60 + (lx(c) - xmin) / max(xmax - xmin, 1e-9) * (w - 80)
    py = lambda v: y0 + h - 40 - (fy(v) - ymin) / max(ymax - ymin, 1e-9) * (h - 70)
    out = [f'<text x="{x0 + w / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{x0 + 60}" y1="{y0 + h - 40}" x2="{x0 + w - 20}" y2="{y0 + h - 40}" stroke="black"/>',
           f'<line x1="{x0 + 60}" y1="{y0 + 30}" x2="{x0 + 60}" y2="{y0 + h - 40}" stroke="black"/>',
           f'<text x="{x0 + w / 2}" y="{y0 + h - 8}" text-anchor="middle">connections</text>',
           f'<text x="{x0 + 14}" y="{y0 + h / 2}" text-anchor="middle" '
           f'transform="rotate(-90 {x0 + 14} {y0 + h / 2})">{ylabel}</text>']
    for c in xs:
        out.append(f'<text x="{px(c)}" y="{y0 + h - 24}" text-anchor="middle" font-size="11">{c}</text>')
    for v in nice_ticks(ymin, ymax, log_y):
        label = f"{v / 1000:g}k" if v >= 1000 else f"{v:g}"
        out.append(f'<text x="{x0 + 55}" y="{py(v) + 4}" text-anchor="end" font-size="11">{label}</text>')
        out.append(f'<line x1="{x0 + 60}" y1="{py(v)}" x2="{x0 + w - 20}" y2="{py(v)}" stroke="#ddd"/>')
    for k, (name, pts) in enumerate(sorted(series.items())):
        pts = [(c, v) for c, v in sorted(pts) if v == v and v > 0]
        color = COLORS.get(name, "#555")
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(c):.1f},{py(v):.1f}" for i, (c, v) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(c):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>' for c, v in pts]
        out.append(f'<text x="{x0 + w - 120}" y="{y0 + 40 + 16 * k}" fill="{color}">{name}</text>')
    return out


def main():
    folder, target = sys.argv[1], sys.argv[2]
    data = read(folder)
    if not data:
        sys.exit(f"no compare-echo summaries in {folder}")
    rates = {n: [(c, v[0]) for c, v in d.items()] for n, d in data.items()}
    p99s = {n: [(c, v[1]) for c, v in d.items()] for n, d in data.items()}
    w, h = 520, 340
    body = panel(0, 0, w, h, "echo throughput (64 B ping-pong)", "msgs/s (median)", rates, False)
    body += panel(w, 0, w, h, "echo p99 latency", "p99 us (median, log)", p99s, True)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" '
           f'font-family="sans-serif" font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n'
           + "\n".join(body) + "\n</svg>\n")
    pathlib.Path(target).write_text(svg)


if __name__ == "__main__":
    main()
