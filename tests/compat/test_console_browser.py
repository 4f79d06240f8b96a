"""test_console_browser.py — the web console (issue 23) end to end in
headless Chromium: Debian's `chromium` (scripts/install-deps.sh) driven by
playwright-core from npm through executablePath, with axe-core; the
scripts are tests/console/*.mjs, installed the way tests/compat/jsdeps.py
installs npm packages (`npm ci`, cached).

Three brokers, one after the other, each with --http 127.0.0.1:0:

  main      PLAINTEXT: e2e.mjs main — create a topic in the UI, produce
            with confluent_kafka (tests/console/kafka_client.py), see the
            records (JSON pretty-printed, binary as hex), follow live and
            see a new record appear, a group committed at 0 whose consumer
            takes its lag to zero on the group page, the consumer stopped,
            its offsets reset to earliest with the preview first (which
            changes nothing) and the lag back, a search, a record produced
            from the page read back by confluent_kafka, the partition
            downloaded as JSON lines, an open transaction (a
            transactional confluent_kafka producer) on the Transactions
            page, the topic deleted after the
            confirmation and gone (from the page and the API);
  login     SASL_PLAINTEXT with SCRAM users and Kafka's StandardAuthorizer:
            e2e.mjs login — the login page, a wrong password refused with
            SASL_AUTHENTICATION_FAILED, the right one logs in (alice, a
            super user), the users page; alice adds an ACL in the UI
            letting bob DESCRIBE one of two topics; bob logs in and sees
            that topic only, and his create is refused with Kafka's
            authorization error;
  readonly  PLAINTEXT with --http-read-only: e2e.mjs readonly — the API
            refuses a create (403 READ_ONLY) and no page shows a mutating
            control.

Every page is screenshot (build/test-artifacts/console/*.png, under
$ND_BUILD_DIR) and checked with axe-core: any serious or critical
violation fails the test, all of them listed. With ND_CONSOLE_DOCS=1 the
screenshots are also copied to docs/console/ (docs/console.md shows
them): `ND_CONSOLE_DOCS=1 ctest -R console_browser`.

Skipped (a failure under CI) without chromium, node/npm, or when the
broker has no pages built in.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import jsdeps
import ndtest

ndtest.require("confluent_kafka")

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
CHROMIUM = shutil.which("chromium")
if not CHROMIUM:
    ndtest.skip("no chromium (scripts/install-deps.sh installs Debian's)")
ART = os.path.join(os.environ.get("ND_BUILD_DIR") or tempfile.gettempdir(),
                   "test-artifacts", "console")
shutil.rmtree(ART, ignore_errors=True)
os.makedirs(ART)
scripts = jsdeps.scenario_dir(jsdeps.CONSOLE)
shutil.copy(os.path.join(jsdeps.CONSOLE, "kafka_client.py"), scripts)


def url_of(b):
    return "http://%s:%d" % b.http


def has_pages(b):
    try:
        with urllib.request.urlopen(url_of(b) + "/", timeout=10) as r:
            return r.status == 200 and b"<html" in r.read().lower()
    except urllib.error.URLError:
        return False


def run(which, b, **env):
    print("== %s" % which, flush=True)
    r = subprocess.run(
        ["node", os.path.join(scripts, "e2e.mjs"), which], cwd=scripts,
        env=dict(os.environ, CHROMIUM=CHROMIUM, ND_ARTIFACTS=ART,
                 ND_URL=url_of(b), ND_BOOTSTRAP=b.bootstrap,
                 ND_PYTHON="/usr/bin/python3",
                 ND_KAFKA_CLIENT=os.path.join(scripts, "kafka_client.py"),
                 **env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    out = r.stdout.decode(errors="replace")
    print(out, flush=True)
    if r.returncode != 0:
        ndtest.fail("e2e.mjs %s failed (exit %d); screenshots in %s\n"
                    "broker stderr (tail):\n%s" % (which, r.returncode, ART,
                                                   b.stderr()[-3000:]))


# A sample a second (the default is 5 s): the overview's and the group's
# charts have points by the time they are shot.
with ndtest.Broker(args=["--http", "127.0.0.1:0",
                         "--group-initial-delay-ms", "0"],
                   env={"NODATA_CONSOLE_SAMPLE_MS": "1000"}) as b:
    if not has_pages(b):
        ndtest.skip("the broker serves no page at / (console/dist is not "
                    "built in)")
    run("main", b)

# SASL_PLAINTEXT only, Kafka's StandardAuthorizer: alice is a super user,
# bob has no ACL until alice adds one in the UI.
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
tmp = tempfile.mkdtemp(prefix="nd-console-sasl-")
data = os.path.join(tmp, "data")
for user, password in USERS.items():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        r = subprocess.run([ndtest.nodata_bin(), "users", "add", user,
                            "--mechanism", mech, "--data", data],
                           input=(password + "\n").encode(),
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            ndtest.fail("nodata users add: %s" % r.stderr.decode())
conf = os.path.join(tmp, "server.properties")
with open(conf, "w") as f:
    f.write("listeners=SASL_PLAINTEXT://127.0.0.1:0\n"
            "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512\n"
            "authorizer.class.name="
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
            "super.users=User:alice\n")
with ndtest.Broker(data_dir=data, listen=False,
                   args=["--config", conf, "--http", "127.0.0.1:0"]) as b:
    run("login", b, ND_USER="alice", ND_PASSWORD=USERS["alice"],
        ND_USER2="bob", ND_PASSWORD2=USERS["bob"])
shutil.rmtree(tmp, ignore_errors=True)

with ndtest.Broker(args=["--http", "127.0.0.1:0", "--http-read-only",
                         "--group-initial-delay-ms", "0"]) as b:
    run("readonly", b)

shots = sorted(glob.glob(os.path.join(ART, "*.png")))
print("screenshots: %s" % ", ".join(os.path.basename(s) for s in shots))
if os.environ.get("ND_CONSOLE_DOCS") == "1":
    docs = os.path.join(SRC, "docs", "console")
    os.makedirs(docs, exist_ok=True)
    for s in shots:
        if not os.path.basename(s).startswith("failure-"):
            shutil.copy(s, docs)
    print("copied to %s" % docs)
ndtest.passed()
