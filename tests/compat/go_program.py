"""go_program.py — build a scenario program of the Go module tests/go
(franz-go, Sarama) for a test, once per version of its sources.

    exe = go_program.build("franzgo")   # the package tests/go/franzgo

The binary goes to ~/.cache/nodata-tests/go/<hash>/<name>, where the hash
covers every file of the module (go.mod, go.sum, the sources) and the Go
version, so an edit rebuilds and an unchanged tree reuses it. Modules come
from the Go module proxy into the default module cache (GOPATH), pinned by
the committed go.sum (GOFLAGS=-mod=readonly: a build never edits go.mod).
Parallel tests are safe: `go build` writes to a temp name, renamed into
place, under an fcntl lock of the cache dir.

Go is expected preinstalled: the modules need Go 1.26 and Debian's
golang-go is 1.19, too old to build them or to fetch a newer toolchain, so
scripts/install-deps.sh does not install it. A Go of 1.21 or later fetches
the toolchain go.mod names by itself (GOTOOLCHAIN=auto, from the module
proxy). A machine without `go` skips these tests, which under CI=true
fails with that message (ndtest.skip).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess

import ndtest

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.normpath(os.path.join(HERE, "..", "go"))


def _tree_hash(go):
    h = hashlib.sha256()
    v = subprocess.run([go, "version"], capture_output=True, check=True)
    h.update(v.stdout)
    for root, dirs, files in os.walk(MODULE):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, MODULE).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def build(package):
    """The path of the built program tests/go/<package>."""
    go = shutil.which("go")
    if not go:
        ndtest.skip("the Go toolchain (`go`, 1.21 or later) is not "
                    "installed: see https://go.dev/dl/")
    cache = os.path.join(os.path.expanduser("~"), ".cache", "nodata-tests",
                         "go", _tree_hash(go))
    os.makedirs(cache, exist_ok=True)
    exe = os.path.join(cache, package)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.access(exe, os.X_OK):
            return exe
        tmp = "%s.%d" % (exe, os.getpid())
        r = subprocess.run([go, "build", "-o", tmp, "./" + package],
                           cwd=MODULE, capture_output=True, timeout=900,
                           env=dict(os.environ, GOFLAGS="-mod=readonly",
                                    CGO_ENABLED="0"))
        if r.returncode != 0:
            ndtest.fail("go build ./%s failed:\n%s" % (
                package, (r.stdout + r.stderr).decode(errors="replace")))
        os.replace(tmp, exe)
    return exe
