"""test_console_assets.py — the console's pages as the broker serves them,
and console/dist as its sources build it.

1. `nodata serve --http`: `/` is index.html; every file of console/dist is
   served at its path, byte for byte, with the Content-Type of its
   extension and the caching its name allows (hashed names under /assets/
   immutable, index.html revalidated); paths that are no file (and no
   /api/ path) are 404; index.html loads nothing from outside the broker.
2. console/dist is exactly what `npm ci && npm run build` makes from the
   committed sources: console/ (without node_modules and dist) is copied
   to a temp dir and built there with the locked packages (installed once
   into ~/.cache/nodata-tests/console-<hash of package.json and
   package-lock.json>, as jsdeps.py does for tests/js), and the two dist
   trees are compared file by file. Without node/npm or the registry this
   part is skipped (a failure under CI).
"""
import fcntl
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import pyvenv  # noqa: E402

SRC = os.environ.get("ND_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
CONSOLE = os.path.join(SRC, "console")
DIST = os.path.join(CONSOLE, "dist")

TYPES = {".html": "text/html; charset=utf-8",
         ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml",
         ".json": "application/json"}
# Vite's emitted names: NAME-HASH.EXT, 8 characters of hash.
HASHED = re.compile(r"^assets/[^/]*-[A-Za-z0-9_-]{8}\.[A-Za-z0-9]+$")


def dist_files(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root).replace(os.sep, "/")] = fh.read()
    return out


def get(addr, method, path):
    c = http.client.HTTPConnection(*addr, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def check_served(b, files):
    if "index.html" not in files:
        ndtest.fail("console/dist has no index.html")
    for path, want in [("/", "index.html")] + [("/" + f, f) for f in files]:
        st, h, body = get(b.http, "GET", path)
        if st != 200:
            ndtest.fail("GET %s: status %d, want 200" % (path, st))
        if body != files[want]:
            ndtest.fail("GET %s: %d bytes, not those of console/dist/%s (%d)"
                        % (path, len(body), want, len(files[want])))
        ext = os.path.splitext(want)[1]
        if ext in TYPES and h.get("content-type") != TYPES[ext]:
            ndtest.fail("GET %s: Content-Type %r, want %r"
                        % (path, h.get("content-type"), TYPES[ext]))
        cc = h.get("cache-control", "")
        if HASHED.match(want):
            if "immutable" not in cc or "max-age=31536000" not in cc:
                ndtest.fail("GET %s (a hashed name): Cache-Control %r, want "
                            "immutable for a year" % (path, cc))
        elif "immutable" in cc or "no-cache" not in cc:
            ndtest.fail("GET %s: Cache-Control %r, want no-cache (its name "
                        "does not change with its content)" % (path, cc))
        # HEAD: the same head, no body.
        st2, h2, body2 = get(b.http, "HEAD", path)
        if st2 != 200 or body2 or h2.get("content-length") != str(len(body)):
            ndtest.fail("HEAD %s: status %d, %d body bytes, Content-Length "
                        "%r" % (path, st2, len(body2),
                                h2.get("content-length")))
    # The pages route by the fragment: no other path is index.html.
    for path in ("/topics", "/index.htm", "/assets/", "/assets/nope.js",
                 "/dist/index.html", "/../console/dist/index.html"):
        st, _, _ = get(b.http, "GET", path)
        if st != 404:
            ndtest.fail("GET %s: status %d, want 404" % (path, st))
    # Everything index.html loads is one of the broker's files (no CDN,
    # no fonts from outside): every src= and href= is a local path that
    # is served, or a data: URL.
    html = files["index.html"].decode()
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    if not any(r.endswith(".js") for r in refs):
        ndtest.fail("index.html loads no script: %r" % refs)
    for r in refs:
        if r.startswith("data:"):
            continue
        if not r.startswith("/") or r.startswith("//"):
            ndtest.fail("index.html loads %r from outside the broker" % r)
        if r.lstrip("/") not in files:
            ndtest.fail("index.html loads %r, which dist does not have" % r)
    for name, data in files.items():
        if re.search(rb"https?://(?!www\.w3\.org/)", data) and \
                name.endswith((".html", ".css")):
            ndtest.fail("console/dist/%s names an outside URL" % name)


def install_dir():
    """node_modules of console/package-lock.json, installed once."""
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json"):
        with open(os.path.join(CONSOLE, f), "rb") as fh:
            h.update(fh.read())
    root = pyvenv.cache_dir()
    os.makedirs(root, exist_ok=True)
    d = os.path.join(root, "console-" + h.hexdigest()[:16])
    done = os.path.join(d, ".complete")
    with open(d + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done):
            return d
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(CONSOLE, f), d)
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                            "--loglevel=error"], cwd=d, capture_output=True,
                           timeout=900)
        if r.returncode != 0:
            shutil.rmtree(d, ignore_errors=True)
            ndtest.skip("npm ci of console/ failed:\n%s" % (
                (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
        with open(done, "w") as f:
            f.write("ok\n")
    return d


def check_rebuild(files):
    if not shutil.which("node") or not shutil.which("npm"):
        ndtest.skip("rebuilding console/dist needs node and npm")
    mods = os.path.join(install_dir(), "node_modules")
    tmp = tempfile.mkdtemp(prefix="nd-console-")
    try:
        work = os.path.join(tmp, "console")
        shutil.copytree(CONSOLE, work,
                        ignore=shutil.ignore_patterns("node_modules", "dist"))
        os.symlink(mods, os.path.join(work, "node_modules"))
        r = subprocess.run(["npm", "run", "build"], cwd=work,
                           capture_output=True, timeout=300)
        if r.returncode != 0:
            ndtest.fail("npm run build of console/ failed:\n%s" % (
                (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
        built = dist_files(os.path.join(work, "dist"))
        if set(built) != set(files):
            ndtest.fail("console/dist is not what its sources build: built "
                        "%s, committed %s (run `make console`)"
                        % (sorted(built), sorted(files)))
        for name in files:
            if built[name] != files[name]:
                ndtest.fail("console/dist/%s differs from what its sources "
                            "build (run `make console`)" % name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    files = dist_files(DIST)
    with ndtest.Broker(args=["--http", "127.0.0.1:0"]) as b:
        if not b.http:
            ndtest.fail("no http listener in the start-up lines")
        check_served(b, files)
    check_rebuild(files)
    ndtest.passed()


main()
