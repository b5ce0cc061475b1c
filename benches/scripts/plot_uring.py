#!/usr/bin/env python3
"""Draws the io_uring comparison from a `uring.sh` run as a hand-written SVG
(no plotting library): one panel per measurement, one bar per server, each
bar the server's median relative to the raw-epoll loop (1.0 = the floor),
its absolute value written above it.

usage: plot_uring.py RESULTS_DIR OUT.svg
"""
import os
import re
import sys

SERVERS = ["weftu", "weftu_c32", "weft", "epoll", "tokio"]
LABELS = {
    "weftu": "weft io_uring",
    "weftu_c32": "weft io_uring, coalesce 32/100 µs",
    "weft": "weft epoll",
    "epoll": "raw epoll",
    "tokio": "tokio",
}
COLORS = {"weftu": "#d95f02", "weftu_c32": "#fdb863", "weft": "#1b9e77", "epoll": "#7570b3", "tokio": "#999999"}

# (file, column, title, lower is better, format)
PANELS = [
    ("count-echo.txt", "sys/msg", "syscalls / message", True, "{:.3f}"),
    ("count-echo.txt", "instr/msg", "user instructions / message", True, "{:.0f}"),
    ("cost-c64-rate50k.txt", "us/msg med", "server CPU µs / msg @ 50k/s", True, "{:.2f}"),
    ("echo-c64.txt", "med", "msgs/s, 64 conns", False, "si"),
    ("echo-c1000.txt", "med", "msgs/s, 1,000 conns", False, "si"),
    ("http-c64.txt", "med", "HTTP req/s", False, "si"),
    ("http-c64-p16.txt", "med", "HTTP req/s, pipeline 16", False, "si"),
]


def fmt_value(fmt, v):
    """A bar's label: `fmt`, or "si" for 348k / 2.53M."""
    if fmt != "si":
        return fmt.format(v)
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    return f"{v / 1e3:.0f}k"


def summary(path, column):
    """{server: value} from the summary table at the end of a kit output."""
    if not os.path.exists(path):
        return {}
    lines = open(path, encoding="utf-8").read().splitlines()
    header = None
    out = {}
    for line in lines:
        if line.startswith("server "):
            header = line
            out = {}
            continue
        if header is None or not line.strip() or line.startswith(("ratio", "per message", "#")):
            continue
        fields = line.split()
        if fields[0] not in SERVERS:
            continue
        # Columns are aligned under the header: take the field whose span
        # covers the column name's end.
        end = header.index(column) + len(column)
        for m in re.finditer(r"\S+", line):
            if m.start() < end <= m.end() + 1:
                try:
                    out[fields[0]] = float(m.group().replace(",", ""))
                except ValueError:
                    pass
                break
    return out


def main():
    results, out_path = sys.argv[1], sys.argv[2]
    panels = []
    for file, column, title, lower, fmt in PANELS:
        values = summary(os.path.join(results, file), column)
        if values.get("epoll"):
            panels.append((title, lower, fmt, values))
    pw, ph, top, bottom, left = 170, 220, 40, 50, 20
    width = left + pw * len(panels) + 20
    height = top + ph + bottom + 30
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">weft io_uring vs epoll, raw epoll and tokio (bars: relative to raw epoll = 1.0)</text>',
    ]
    for p, (title, lower, fmt, values) in enumerate(panels):
        x0 = left + p * pw
        base = values["epoll"]
        rel = {s: values[s] / base for s in SERVERS if s in values}
        scale = max(max(rel.values()), 1.0) * 1.15
        y_axis = top + ph
        svg.append(f'<text x="{x0 + pw / 2}" y="{top - 6}" text-anchor="middle">{title}</text>')
        svg.append(f'<text x="{x0 + pw / 2}" y="{top + 8}" text-anchor="middle" fill="#555" font-size="9">{"lower" if lower else "higher"} is better</text>')
        one = y_axis - ph * (1.0 / scale)
        svg.append(f'<line x1="{x0 + 8}" x2="{x0 + pw - 8}" y1="{one:.1f}" y2="{one:.1f}" stroke="#7570b3" stroke-dasharray="3,3"/>')
        svg.append(f'<line x1="{x0 + 8}" x2="{x0 + pw - 8}" y1="{y_axis}" y2="{y_axis}" stroke="black"/>')
        bw = (pw - 30) / len(SERVERS)
        for i, s in enumerate(SERVERS):
            if s not in rel:
                continue
            h = ph * rel[s] / scale
            x = x0 + 15 + i * bw
            svg.append(f'<rect x="{x:.1f}" y="{y_axis - h:.1f}" width="{bw - 4:.1f}" height="{h:.1f}" fill="{COLORS[s]}"/>')
            svg.append(f'<text x="{x + (bw - 4) / 2:.1f}" y="{y_axis - h - 3:.1f}" text-anchor="middle" font-size="8">{fmt_value(fmt, values[s])}</text>')
            svg.append(f'<text x="{x + (bw - 4) / 2:.1f}" y="{y_axis + 12:.1f}" text-anchor="middle" font-size="9">{rel[s]:.2f}</text>')
    lx = left
    for s in SERVERS:
        svg.append(f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{COLORS[s]}"/>')
        svg.append(f'<text x="{lx + 14}" y="{height - 9}">{LABELS[s]}</text>')
        lx += 60 + 6 * len(LABELS[s])
    svg.append("</svg>")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {out_path} ({len(panels)} panels)")


if __name__ == "__main__":
    main()
