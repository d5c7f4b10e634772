#!/usr/bin/python3
"""Fails on an #include that points up the module graph (README "Architecture").

Modules are the directories under include/ and src/ (src/main.cpp is the module "main").
A file may include its own module and the modules listed for it below; anything else is an
upward (or sideways: http and ws do not include each other) edge and is reported as
FILE:LINE: module -> module ("header") does not point down.
Run from the repository root; prints nothing and exits 0 when every include points down.
"""
import pathlib
import re
import sys

# main -> app -> push -> http, ws, redis -> net -> event -> core. config sits beside the chain
# and depends only on core; deflate and auth are core-level siblings too, usable from net up.
# redis (the RESP client on the loop) is at the level of http and ws: it uses net and event.
# httpc (the HTTP/1.1 client on the loop) sits just above http: it reuses http's chunked
# decoder and character classes, and is used by app only.
BESIDE = {"config", "deflate", "auth"}
DEPENDS = {
    "core": set(),
    "config": {"core"},
    "deflate": {"core"},
    "auth": {"core"},
    "redis": {"net", "event", "core"} | BESIDE,
    "event": {"core", "config"},
    "net": {"event", "core"} | BESIDE,
    "http": {"net", "event", "core"} | BESIDE,
    "ws": {"net", "event", "core"} | BESIDE,
    "httpc": {"http", "net", "event", "core"} | BESIDE,
    "push": {"http", "ws", "redis", "net", "event", "core"} | BESIDE,
    "app": {"push", "httpc", "http", "ws", "redis", "net", "event", "core"} | BESIDE,
    "main": {"app", "push", "httpc", "http", "ws", "redis", "net", "event", "core"} | BESIDE,
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(path: pathlib.Path) -> str:
    parts = path.parts  # ("src", "http", "session.cpp") or ("src", "main.cpp")
    return "main" if parts == ("src", "main.cpp") else parts[1]


def main() -> int:
    errors = []
    files = sorted(p for top in ("include", "src") for p in pathlib.Path(top).rglob("*")
                   if p.suffix in (".hpp", ".cpp"))
    for path in files:
        mod = module_of(path)
        if mod not in DEPENDS:
            errors.append(f"{path}: module \"{mod}\" has no place in tools/check-layers.py")
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            header = m.group(1)
            target = header.split("/")[0] if "/" in header else mod
            if target == mod or target in DEPENDS[mod]:
                continue
            errors.append(f"{path}:{lineno}: {mod} -> {target} (\"{header}\") does not point down")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
