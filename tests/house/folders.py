#!/usr/bin/env python3
"""The folder contract of src/: the include arrows between stage folders form no cycle.

A folder is src/<stage>. src/families/<name> and src/vendors/<name> count as their own
folders, and so do the two registries (families/registry.cpp; vendors/vendors.cpp with
vendors/select.cpp), which list them: the stages see a family or a vendor only through the
interface headers (families/family.hpp, vendors/vendors.hpp), whose functions the registries
define, so a family's or vendor's sources may use the stages without an arrow back. Prints
each cycle found and exits 1; prints the arrows and exits 0 when there is none."""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "src")
src = os.path.abspath(src)
NESTED = ("families", "vendors")
REGISTRIES = {"families/registry.cpp": "families/registry", "vendors/vendors.cpp": "vendors/registry",
              "vendors/select.cpp": "vendors/registry"}


def folder_of(path):
    """src-relative path -> its folder ('codegen', 'families', 'families/mla', ...)."""
    if path in REGISTRIES:
        return REGISTRIES[path]
    parts = path.split("/")
    if parts[0] in NESTED and len(parts) > 2:
        return parts[0] + "/" + parts[1]
    return parts[0] if len(parts) > 1 else "."


edges = {}
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
for root, _, files in os.walk(src):
    for name in files:
        if not name.endswith((".cpp", ".hpp", ".h")):
            continue
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src).replace(os.sep, "/")
        here = folder_of(rel)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in include.findall(text):
            target = os.path.normpath(os.path.join(root, inc))
            if not os.path.exists(target):
                target = os.path.normpath(os.path.join(src, inc))
            if not os.path.exists(target) or not target.startswith(src + os.sep):
                continue  # public headers (include/ropegen), system headers
            there = folder_of(os.path.relpath(target, src).replace(os.sep, "/"))
            if there != here:
                edges.setdefault(here, set()).add(there)

# Cycles: a depth-first search over the folder graph.
cycles, state, stack = [], {}, []


def visit(n):
    state[n] = 1
    stack.append(n)
    for m in sorted(edges.get(n, ())):
        if state.get(m) == 1:
            cycles.append(stack[stack.index(m):] + [m])
        elif m not in state:
            visit(m)
    stack.pop()
    state[n] = 2


for n in sorted(edges):
    if n not in state:
        visit(n)
if cycles:
    for c in cycles:
        print("folder cycle: " + " -> ".join(c))
    sys.exit(1)
for n in sorted(edges):
    print(f"{n} -> {', '.join(sorted(edges[n]))}")
