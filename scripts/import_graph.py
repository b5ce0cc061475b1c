#!/usr/bin/env python3
"""The module import graph of runtime/ and net/: which source file names
which module of its crate (`use crate::x`, `crate::x::`, `super::x`), the
cycles among files, and the arrows that run up the layer order.

usage: scripts/import_graph.py [REPO_ROOT]   (prints a summary; exit 1 on a
cycle or an upward arrow)

Layers, lowest first (a file may name its own layer and any lower one):
  runtime: sys, util, reactor, driver, time|task, io, sync|signal|blocking, scheduler, runtime.rs|lib.rs
  net: sys, socket|addr, split|datagram, tcp|udp|unix, lib.rs
(the first round's files map to their layer: context to scheduler, injector
to util, interest to reactor, os to sys, stream and listener to split.)
"""
import os
import re
import sys

RUNTIME_LAYERS = [
    {"sys", "loom", "loom_tests"},
    {"util", "injector"},
    {"reactor", "interest"},
    {"driver"},
    {"task", "time"},
    {"io"},
    {"sync", "signal", "blocking"},
    {"scheduler", "context"},
    {"runtime", "lib"},
]
NET_LAYERS = [{"sys", "os"}, {"socket", "addr"}, {"split", "datagram", "stream", "listener"}, {"tcp", "udp", "unix"}, {"lib"}]


def files(src):
    for dirpath, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                yield os.path.join(dirpath, n)


def module_of(src, path):
    rel = os.path.relpath(path, src)
    parts = rel[:-3].split(os.sep)
    return parts


def top(parts):
    return parts[0]


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def strip_tests(text):
    # Drop `#[cfg(test)] mod tests { ... }` blocks (to the end of file: they come last by convention).
    m = re.search(r"#\[cfg\(test\)\]\s*\n\s*mod tests", text)
    return text[: m.start()] if m else text


def edges(src):
    out = {}
    for path in files(src):
        parts = module_of(src, path)
        if parts[-1] in ("tests", "loom_tests", "loom_models") or "tests" in parts[:-1]:
            continue
        text = strip_comments(strip_tests(open(path).read()))
        name = "/".join(parts)
        targets = set()
        for m in re.finditer(r"crate::([a-z_]+)(?:::([a-z_]+))?", text):
            targets.add((m.group(1), m.group(2)))
        for m in re.finditer(r"super::([a-z_]+)", text):
            base = parts[:-1] if parts[-1] != "mod" else parts[:-2]
            if base:
                targets.add((base[0], m.group(1) if len(base) == 1 else base[1]))
        out[name] = targets
    return out


def file_of(src, t):
    first, second = t
    for cand in (f"{first}/{second}", f"{first}/mod", first):
        if second is None and "/" in cand and not cand.endswith("/mod"):
            continue
        if os.path.exists(os.path.join(src, cand + ".rs")):
            return cand
    return None


def layer(layers, mod):
    for i, group in enumerate(layers):
        if mod in group:
            return i
    return None


def analyse(root, crate, layers):
    src = os.path.join(root, crate, "src")
    graph = {}
    for f, ts in edges(src).items():
        graph[f] = {file_of(src, t) for t in ts} - {None, f}
    up = []
    for f, ts in graph.items():
        lf = layer(layers, f.split("/")[0])
        for t in ts:
            lt = layer(layers, t.split("/")[0])
            if lf is not None and lt is not None and lt > lf:
                up.append((f, t))
    # Two-file cycles, and any longer cycle between files of different modules.
    pairs = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if a in graph.get(b, ())})
    return graph, sorted(up), pairs


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = False
    for crate, layers in (("runtime", RUNTIME_LAYERS), ("net", NET_LAYERS)):
        graph, up, pairs = analyse(root, crate, layers)
        n_edges = sum(len(v) for v in graph.values())
        print(f"{crate}: {len(graph)} files, {n_edges} file->file imports, "
              f"{len(up)} upward arrows, {len(pairs)} files that import each other")
        for a, b in up:
            print(f"  up: {a} -> {b}")
        for a, b in pairs:
            print(f"  circle: {a} <-> {b}")
        bad |= bool(up or pairs)
    sys.exit(1 if bad else 0)


main()
