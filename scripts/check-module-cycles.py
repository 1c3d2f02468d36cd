#!/usr/bin/env python3
"""Fails when files of one crate import each other in a circle.

Each crate's modules are its source files (`src/a/b.rs` and `src/a/b/mod.rs` are `a::b`);
a file depends on another when it names it through `crate::`, `super::` or a sibling path
in code (comments and test modules are left out: tests may look anywhere). A circle
between top-level modules is reported, e.g. `files -> formats -> registry -> files`.
Child-to-parent references (`super::`) inside one module tree are the module's own
business and do not count, since a parent holding its children's shared items is the
usual Rust layout.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Circles that are one type-level pair, with the reason. Nothing else may be added here
# without one.
ALLOWED = {
    ("crates/packages-api", frozenset({"state", "formats"})):
        "AppState carries the registered formats, and the Format trait's handler takes the "
        "state: two types that name each other, no function calls going round",
}


def crates():
    for base in ("crates", "crates/formats"):
        d = os.path.join(ROOT, base)
        for name in sorted(os.listdir(d)):
            src = os.path.join(d, name, "src")
            if os.path.isdir(src):
                yield f"{base}/{name}", src


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return rel


def strip(text):
    text = re.sub(r"//[^\n]*", "", text)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    return text[: cut.start()] if cut else text


def top_level_edges(src):
    files = {}
    for dirpath, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(dirpath, n)
                files[tuple(module_of(src, p))] = strip(open(p, encoding="utf-8").read())
    tops = {m[0] for m in files if m}
    edges = {t: set() for t in tops}
    for mod, text in files.items():
        if not mod:
            continue  # the crate root declares everything
        here = mod[0]
        for target in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text):
            if target in tops and target != here:
                edges[here].add(target)
        # `super::x` from a top-level file names a sibling.
        if len(mod) == 1:
            for target in re.findall(r"\bsuper::([a-z_][a-z0-9_]*)", text):
                if target in tops and target != here:
                    edges[here].add(target)
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


status = 0
for name, src in crates():
    for c in cycles(top_level_edges(src)):
        if (name, frozenset(c)) in ALLOWED:
            continue
        print(f"error: {name}: modules import each other in a circle: {' -> '.join(c)}", file=sys.stderr)
        status = 1
if status == 0:
    print("module imports ok: no circle between the files of any crate")
sys.exit(status)
