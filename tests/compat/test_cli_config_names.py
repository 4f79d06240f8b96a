"""test_cli_config_names.py — the command line and the broker accept the
same topic settings.

Every setting `nodata topics describe` lists (the library's
nd_topic_config_names(), cleanup.policy among them: the CLI once refused
it) is set to a series of values, valid and not, in two ways:
  - `nodata topics alter T --config K=V` on a data directory (the library's
    nd_topic_config_set), read back with `topics describe`;
  - a Kafka AdminClient's AlterConfigs through `nodata serve` on another
    data directory, read back with DescribeConfigs.
Both must accept exactly the same values and read back the same text, and
a refused value must leave the setting as it was. Then `topics create
--config` is checked the same way against CreateTopics for a few values.

The one deliberate difference is segment.bytes below Kafka's 1 MiB
minimum: the library and the CLI take down to 14 bytes (tests and
embedders roll segments often), the broker refuses it from clients unless
started with --min-segment-bytes. The comparison runs the broker with
--min-segment-bytes 1 so that it compares acceptance by name and value,
and a second broker with the default shows that policy (Kafka's text).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402

ndtest.require("confluent_kafka")
from confluent_kafka.admin import (AdminClient, ConfigResource,  # noqa: E402
                                   NewTopic)

N = ndtest.nodata_bin()

# Values tried for every setting, and more for some.
COMMON = ["0", "1", "-1", "-2", "4096", "86400000", "abc", "", "0.5", "1e3",
          " 5", "9223372036854775807", "9223372036854775808"]
SPECIAL = {
    "fsync": ["always", "never", "interval=10", "interval=0", "interval=",
              "sometimes"],
    "message.timestamp.type": ["CreateTime", "LogAppendTime", "createtime",
                               "Other"],
    "compression.type": ["producer", "uncompressed", "gzip", "snappy", "lz4",
                         "zstd", "brotli", "none"],
    "cleanup.policy": ["compact", "delete", "compact,delete",
                       "delete,compact", "compact, delete", "shred",
                       "compact,compact"],
    "min.cleanable.dirty.ratio": ["0.1", "0.99", "1", "1.5", "-0.1"],
    "compression.gzip.level": ["9", "10", "-1", "0"],
    "compression.lz4.level": ["1", "17", "18"],
    "compression.zstd.level": ["22", "23", "-131072", "-131073"],
    "segment.bytes": ["14", "1048576", "1073741824", "2147483648"],
    "max.message.bytes": ["100", "104857600"],
}


def cli(*args, data):
    return subprocess.run([N, *args, "--data", data],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)


def cli_config(data, topic):
    r = cli("topics", "describe", topic, data=data)
    if r.returncode != 0:
        ndtest.fail("describe: " + r.stderr)
    cfg, on = {}, False
    for line in r.stdout.splitlines():
        if line == "config:":
            on = True
        elif on and line.startswith("  "):
            k, _, v = line[2:].partition("=")
            cfg[k] = v
    return cfg


def broker_config(admin, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    got = admin.describe_configs([res])[res].result(30)
    return {k: e.value for k, e in got.items()}


def broker_alter(admin, topic, key, value):
    """None if accepted, else the error text."""
    res = ConfigResource(ConfigResource.Type.TOPIC, topic,
                         set_config={key: value})
    try:
        admin.alter_configs([res])[res].result(30)
        return None
    except Exception as e:  # KafkaException with the broker's error
        return str(e)


def main(b, cli_data):
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic("c", 1, 1)])["c"].result(30)
    r = cli("topics", "create", "c", data=cli_data)
    if r.returncode != 0:
        ndtest.fail("create: " + r.stderr)
    defaults = cli_config(cli_data, "c")
    names = list(defaults)
    if "cleanup.policy" not in names or len(names) < 15:
        ndtest.fail("describe lists %r" % names)
    bdefaults = broker_config(admin, "c")
    diffs, tried, accepted = [], 0, 0
    for k in names:
        if bdefaults.get(k) != defaults[k]:
            diffs.append("%s: default %r on the CLI, %r through the broker"
                         % (k, defaults[k], bdefaults.get(k)))
        for v in [defaults[k]] + COMMON + SPECIAL.get(k, []):
            tried += 1
            r = cli("topics", "alter", "c", "--config", "%s=%s" % (k, v),
                    data=cli_data)
            cli_ok = r.returncode == 0
            if r.returncode not in (0, 1, 2):
                ndtest.fail("alter %s=%r: exit %d: %s" % (k, v, r.returncode,
                                                          r.stderr))
            cli_val = cli_config(cli_data, "c")[k]
            berr = broker_alter(admin, "c", k, v)
            b_val = broker_config(admin, "c")[k]
            if cli_ok != (berr is None):
                diffs.append("%s=%r: CLI %s, broker %s" % (
                    k, v, "accepts" if cli_ok else
                    "refuses (%s)" % r.stderr.strip(),
                    "accepts" if berr is None else "refuses (%s)" % berr))
            elif cli_val != b_val:
                diffs.append("%s=%r: read back %r on the CLI, %r through the "
                             "broker" % (k, v, cli_val, b_val))
            if not cli_ok and cli_val != defaults[k]:
                diffs.append("%s=%r: refused by the CLI but the setting is "
                             "now %r" % (k, v, cli_val))
            accepted += cli_ok
            # Back to the default on both sides for the next value.
            if cli_ok:
                r = cli("topics", "alter", "c", "--delete-config", k,
                        data=cli_data)
                if r.returncode != 0:
                    ndtest.fail("--delete-config %s: %s" % (k, r.stderr))
            broker_alter(admin, "c", k, defaults[k])
    # create --config and CreateTopics agree too.
    for i, (k, v) in enumerate([("cleanup.policy", "compact"),
                                ("cleanup.policy", "shred"),
                                ("fsync", "always"),
                                ("retention.ms", "-2"),
                                ("min.cleanable.dirty.ratio", "2")]):
        name = "n%d" % i
        r = cli("topics", "create", name, "--config", "%s=%s" % (k, v),
                data=cli_data)
        f = admin.create_topics([NewTopic(name, 1, 1, config={k: v})])[name]
        try:
            f.result(30)
            berr = None
        except Exception as e:
            berr = str(e)
        if (r.returncode == 0) != (berr is None):
            diffs.append("create %s=%r: CLI exit %d (%s), broker %s" % (
                k, v, r.returncode, r.stderr.strip(), berr or "accepts"))
    if diffs:
        ndtest.fail("%d difference(s) in %d values:\n  %s" % (
            len(diffs), tried, "\n  ".join(diffs)))
    if accepted == 0 or accepted == tried:
        ndtest.fail("%d of %d values accepted: the values test nothing" % (
            accepted, tried))
    print("%d settings, %d values: %d accepted by both, the rest refused by "
          "both" % (len(names), tried, accepted))


# The broker's own policy on top of the shared rules: Kafka's minimum.
with ndtest.Broker() as b:
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic("c", 1, 1)])["c"].result(30)
    err = broker_alter(admin, "c", "segment.bytes", "1048575")
    if not err or "Value must be at least 1048576" not in err:
        ndtest.fail("default broker, segment.bytes=1048575: %r" % err)
    if broker_alter(admin, "c", "segment.bytes", "1048576"):
        ndtest.fail("default broker refuses segment.bytes=1048576")

with ndtest.Broker(args=["--min-segment-bytes", "1"]) as b:
    cli_data = os.path.join(b.data_dir + "-cli")
    try:
        main(b, cli_data)
    finally:
        subprocess.run(["rm", "-rf", cli_data])
ndtest.passed()
