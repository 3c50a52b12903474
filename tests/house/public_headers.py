#!/usr/bin/env python3
"""The public headers name no internal type.

include/ropegen/ is what an embedder sees. A type declared only under src/ (a struct, class
or enum in an internal header), or anything of an internal namespace (dsl::, detail::,
spec_detail::), must not appear in it: an embedder could neither build nor use it. The one
exception is InternalAccess, the library's friend, which the public headers name but never
use in a signature. Prints each offence as header:line: name and exits 1; exits 0 when clean.
Usage: public_headers.py ROOT (the project's root)."""
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
public_dir = os.path.join(root, "include", "ropegen")
ALLOWED = {"InternalAccess"}
NAMESPACES = ("dsl::", "detail::", "spec_detail::")
decl = re.compile(r"^\s*(?:struct|class|enum(?:\s+class)?)\s+([A-Z][A-Za-z0-9_]*)\s*(?:final\s*)?[:{]", re.M)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


public = {name: strip_comments(read(os.path.join(public_dir, name)))
          for name in sorted(os.listdir(public_dir)) if name.endswith((".h", ".hpp"))}
public_types = {t for text in public.values() for t in decl.findall(text)}
internal = set()
for base, _, files in os.walk(os.path.join(root, "src")):
    for name in files:
        if name.endswith((".hpp", ".h")):
            internal.update(decl.findall(strip_comments(read(os.path.join(base, name)))))
internal -= public_types | ALLOWED
if not internal:
    print("no internal types found under src/: the scan is broken")
    sys.exit(1)
word = re.compile(r"\b(" + "|".join(sorted(internal)) + r")\b")
bad = []
for name, text in public.items():
    for i, line in enumerate(text.split("\n"), 1):
        for m in word.finditer(line):
            bad.append(f"include/ropegen/{name}:{i}: internal type {m.group(1)}")
        for ns in NAMESPACES:
            if re.search(r"\b" + re.escape(ns), line):
                bad.append(f"include/ropegen/{name}:{i}: internal namespace {ns}")
print("\n".join(bad) if bad else f"{len(public)} public headers name none of {len(internal)} internal types")
sys.exit(1 if bad else 0)
