#!/usr/bin/env python3
"""Generate broker/kafka_msgs.{h,c} from Apache Kafka's message schemas.

Usage: tools/kafka_gen.py --jar KAFKA_CLIENTS_JAR [OUT_DIR]
       tools/kafka_gen.py SCHEMA_DIR [OUT_DIR]

The schemas are Kafka's <Api>Request.json / <Api>Response.json files. The
kafka-clients jar of a release carries them as resources under
common/message/ (and its version in kafka/kafka-version.properties): with
--jar they are read straight from it, and the header records the release and
the jar's sha256, so that tests/compat/test_kafka_msgs_regen.py can fetch the
same jar from Maven Central and check that regenerating reproduces the
committed files. SCHEMA_DIR (clients/src/main/resources/common/message/ of an
apache/kafka checkout) is for trying out unreleased schemas; its output
records no release and fails that check. OUT_DIR defaults to broker/ beside
this script. The output is committed: the build never runs this script and
never needs the schemas.

For every message listed in MESSAGES the generator emits a C struct per
(nested) struct and a descriptor table that the generic codec in
kafka_codec.c walks: field type, offset, the versions the field exists in,
the versions it is nullable in, its tag if tagged, its default and the nested
descriptor. Which fields exist at which version is therefore data; adding the
next Kafka version is re-running this script on the new schemas (and a test).
Stdlib only.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile

# (schema base name, lowest version we decode/encode). The low bound widens
# a schema's validVersions where we must still shape a response for versions
# Kafka 4 removed (Produce v0-2 are advertised for librdkafka's feature
# checks and answered UNSUPPORTED_VERSION, KAFKA-18659).
MESSAGES = [
    ("ApiVersions", None),
    ("Metadata", None),
    ("Produce", 0),
    ("Fetch", None),
    ("ListOffsets", None),
    ("CreateTopics", None),
    ("DeleteTopics", None),
    ("CreatePartitions", None),
    ("InitProducerId", None),
    ("DescribeConfigs", None),
    ("FindCoordinator", None),
    ("JoinGroup", None),
    ("SyncGroup", None),
    ("Heartbeat", None),
    ("LeaveGroup", None),
    ("OffsetCommit", None),
    ("OffsetFetch", None),
    ("DescribeGroups", None),
    ("ListGroups", None),
    ("DeleteGroups", None),
    ("DeleteRecords", None),
    ("OffsetForLeaderEpoch", None),
    ("DescribeCluster", None),
    ("AlterConfigs", None),
    ("IncrementalAlterConfigs", None),
    ("DescribeLogDirs", None),
    ("DescribeProducers", None),
    ("OffsetDelete", None),
    ("DescribeAcls", None),
    ("CreateAcls", None),
    ("DeleteAcls", None),
    ("AddPartitionsToTxn", None),
    ("AddOffsetsToTxn", None),
    ("EndTxn", None),
    ("TxnOffsetCommit", None),
    ("DescribeTransactions", None),
    ("ListTransactions", None),
    ("GetTelemetrySubscriptions", None),
    ("PushTelemetry", None),
    ("SaslHandshake", None),
    ("SaslAuthenticate", None),
    ("DescribeUserScramCredentials", None),
    ("AlterUserScramCredentials", None),
    ("DescribeClientQuotas", None),
    ("AlterClientQuotas", None),
    ("ConsumerGroupHeartbeat", None),
    ("ConsumerGroupDescribe", None),
]

VMAX = 0x7FFF

PRIM = {
    "bool": ("KF_BOOL", "uint8_t"),
    "int8": ("KF_INT8", "int8_t"),
    "int16": ("KF_INT16", "int16_t"),
    "uint16": ("KF_UINT16", "uint16_t"),
    "int32": ("KF_INT32", "int32_t"),
    "uint32": ("KF_UINT32", "uint32_t"),
    "int64": ("KF_INT64", "int64_t"),
    "float64": ("KF_FLOAT64", "double"),
    "uuid": ("KF_UUID", None),
    "string": ("KF_STRING", "kf_str"),
    "bytes": ("KF_BYTES", "kf_bytes"),
    "records": ("KF_RECORDS", "kf_bytes"),
}


# The licence line every C file of the project opens with (LICENSE).
SPDX = "/* SPDX-License-Identifier: Apache-2.0 */"

def strip_comments(text):
    out = []
    for line in text.splitlines():
        # Schemas only have whole-line // comments or trailing ones outside
        # strings; drop from // when it is not inside a string literal.
        in_str = False
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == '"' and (i == 0 or line[i - 1] != "\\"):
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                line = line[:i]
                break
            i += 1
        out.append(line)
    return "\n".join(out)


def parse_versions(spec):
    """'0+' -> (0, VMAX); '3-5' -> (3, 5); '7' -> (7, 7); 'none' -> None."""
    if spec is None:
        return None
    spec = spec.strip()
    if spec == "none" or spec == "":
        return None
    if spec.endswith("+"):
        return (int(spec[:-1]), VMAX)
    if "-" in spec:
        a, b = spec.split("-")
        return (int(a), int(b))
    return (int(spec), int(spec))


def snake(name):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    return s.lower()


C_RESERVED = {"default", "int", "long", "short", "char", "register", "auto",
              "struct", "union", "switch", "case", "static", "const"}


def cname(name):
    n = snake(name)
    return n + "_" if n in C_RESERVED else n


def parse_default(f, kind):
    d = f.get("default")
    if kind in ("KF_STRING", "KF_BYTES", "KF_RECORDS"):
        # 1 = null by default, 0 = empty.
        return 1 if d == "null" else 0
    if d is None:
        return 0
    if isinstance(d, bool):
        return 1 if d else 0
    if isinstance(d, (int, float)):
        return int(d)
    d = str(d).strip()
    if d in ("true", "false"):
        return 1 if d == "true" else 0
    if d == "null":
        return 0
    try:
        return int(d, 0)
    except ValueError:
        return int(float(d))


class Gen:
    def __init__(self):
        self.structs = []  # (cstruct name, [field dicts]) in dependency order
        self.seen = set()

    def struct(self, cname_, fields, common, msg=None):
        """Emit a struct and its nested ones; returns the C struct name."""
        if cname_ in self.seen:
            return cname_
        self.seen.add(cname_)
        out = []
        # Kafka's own generator requires struct names to be unique within a
        # message, so the message name is enough of a prefix.
        prefix = msg or cname_
        for f in fields:
            ftype = f["type"]
            vers = parse_versions(f.get("versions"))
            if vers is None:
                continue
            nullable = parse_versions(f.get("nullableVersions"))
            tagged = parse_versions(f.get("taggedVersions"))
            tag = f.get("tag", -1)
            never_flex = f.get("flexibleVersions") == "none"
            entry = {
                "name": cname(f["name"]),
                "vers": vers,
                "null": nullable,
                "tagged": tagged,
                "tag": tag if tagged else -1,
                "never_flex": never_flex,
            }
            is_array = ftype.startswith("[]")
            base = ftype[2:] if is_array else ftype
            if base in PRIM:
                kind, ctype = PRIM[base]
                entry["elem"] = kind
                entry["sub"] = None
                entry["def"] = parse_default(f, kind)
            else:
                sub_fields = f.get("fields")
                if sub_fields is None:
                    sub_fields = common[base]
                # MetadataResponseTopic in MetadataResponse -> ..._topic.
                short = snake(base)
                head = prefix[len("kafka_"):] + "_"
                api = re.sub(r"_(request|response)_$", "_", head)
                for h in (head, api):
                    if short.startswith(h) and len(short) > len(h):
                        short = short[len(h):]
                        break
                sub = self.struct(prefix + "_" + short, sub_fields, common,
                                  prefix)
                entry["elem"] = "KF_STRUCT"
                entry["sub"] = sub
                entry["def"] = 0
                ctype = sub
            if is_array:
                entry["type"] = "KF_ARRAY"
                entry["ctype"] = ("struct { %s *items; int32_t count; }" %
                                  (ctype if ctype else "kf_uuid"))
                entry["def"] = 1 if f.get("default") == "null" else 0
            else:
                entry["type"] = entry["elem"]
                entry["ctype"] = ctype if ctype else "kf_uuid"
            out.append(entry)
        self.structs.append((cname_, out))
        return cname_


def vpair(v):
    if v is None:
        return "-1, -1"
    return "%d, %d" % v


class JarSchemas:
    """The schemas inside a kafka-clients jar, and the release it is."""

    def __init__(self, path):
        with open(path, "rb") as fh:
            self.sha256 = hashlib.sha256(fh.read()).hexdigest()
        self.zip = zipfile.ZipFile(path)
        props = self.zip.read("kafka/kafka-version.properties").decode()
        m = re.search(r"^version=(\S+)$", props, re.M)
        if not m:
            raise SystemExit("kafka_gen: no version in %s" % path)
        self.version = m.group(1)
        self.jar = os.path.basename(path)

    def read(self, name):
        return self.zip.read("common/message/%s.json" % name).decode()


class DirSchemas:
    version = None

    def __init__(self, path):
        self.path = path

    def read(self, name):
        with open(os.path.join(self.path, name + ".json")) as fh:
            return fh.read()


def clang_format(path, text):
    """text formatted by the project's .clang-format. Through stdin with
    --assume-filename inside the repository, so that the style file is the
    repository's even when OUT_DIR is a temp dir (the regeneration check)."""
    here = os.path.dirname(os.path.abspath(__file__))
    as_if = os.path.join(here, "..", "broker", os.path.basename(path))
    try:
        r = subprocess.run(["clang-format", "--assume-filename=" + as_if],
                           input=text.encode(), capture_output=True,
                           check=True)
        return r.stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        sys.stderr.write("kafka_gen: clang-format not run\n")
        return text


def main():
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "--jar":
        schemas = JarSchemas(args[1])
        args = args[2:]
    elif args and not args[0].startswith("-"):
        schemas = DirSchemas(args[0])
        args = args[1:]
    else:
        sys.stderr.write(__doc__)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = args[0] if args else os.path.join(here, "..", "broker")
    gen = Gen()
    msgs = []
    names = [("RequestHeader", None), ("ResponseHeader", None)]
    for base, low in MESSAGES:
        names.append((base + "Request", low))
        names.append((base + "Response", low))
    for name, low in names:
        js = json.loads(strip_comments(schemas.read(name)))
        common = {c["name"]: c["fields"] for c in js.get("commonStructs", [])}
        valid = parse_versions(js["validVersions"])
        if low is not None and low < valid[0]:
            valid = (low, valid[1])
        flex = parse_versions(js.get("flexibleVersions"))
        cn = "kafka_" + snake(name)
        gen.struct(cn, js["fields"], common)
        msgs.append({
            "name": name,
            "cname": cn,
            "api_key": js.get("apiKey", -1),
            "valid": valid,
            "flex": flex[0] if flex else VMAX,
        })

    h = [SPDX]
    if schemas.version:
        h.append("/* Generated by tools/kafka_gen.py from the message schemas "
                 "of Apache Kafka %s,\n * read from %s (sha256 %s).\n"
                 " * Do not edit: re-run the generator (see docs/protocol.md);"
                 "\n * tests/compat/test_kafka_msgs_regen.py checks that it "
                 "reproduces this. */" % (schemas.version, schemas.jar,
                                          schemas.sha256))
    else:
        h.append("/* Generated by tools/kafka_gen.py from a directory of "
                 "Apache Kafka's message\n * schemas, not a release: "
                 "regenerate with --jar before committing. */")
    h.append("#ifndef ND_KAFKA_MSGS_H\n#define ND_KAFKA_MSGS_H\n")
    h.append('#include "kafka_codec.h"\n')
    h.append("/* The Kafka release whose schemas these are (\"\" if none). */")
    h.append('#define KAFKA_MSGS_KAFKA_VERSION "%s"' % (schemas.version or ""))
    h.append('#define KAFKA_MSGS_JAR_SHA256 "%s"\n'
             % (getattr(schemas, "sha256", "")))
    for cn, fields in gen.structs:
        h.append("typedef struct %s {" % cn)
        if not fields:
            h.append("  uint8_t unused_;")
        for f in fields:
            h.append("  %s %s;" % (f["ctype"], f["name"]))
        h.append("} %s;\n" % cn)
    for cn, _ in gen.structs:
        h.append("extern const kf_struct %s_desc;" % cn)
    h.append("")
    for m in msgs:
        h.append("extern const kf_msg %s_msg;" % m["cname"])
    h.append("")
    h.append("/* Every message above, for tests that walk them all. */")
    h.append("extern const kf_msg *const kafka_all_msgs[];")
    h.append("extern const size_t kafka_all_msgs_count;")
    h.append("\n#endif")

    c = [SPDX]
    c.append("/* Generated by tools/kafka_gen.py. Do not edit. */")
    c.append("#include <stddef.h>\n")
    c.append('#include "kafka_msgs.h"\n')
    for cn, fields in gen.structs:
        if fields:
            c.append("static const kf_field %s_fields[] = {" % cn)
            for f in fields:
                sub = "&%s_desc" % f["sub"] if f["sub"] else "NULL"
                c.append(
                    '  {"%s", %s, %s, offsetof(%s, %s), %s, %s, %s, %d, %d, '
                    "%dLL, %s}," % (f["name"], f["type"], f["elem"], cn,
                                    f["name"], vpair(f["vers"]),
                                    vpair(f["null"]), vpair(f["tagged"]),
                                    f["tag"], 1 if f["never_flex"] else 0,
                                    f["def"], sub))
            c.append("};")
            c.append('const kf_struct %s_desc = {"%s", sizeof(%s), %d, '
                     "%s_fields};\n" % (cn, cn, cn, len(fields), cn))
        else:
            c.append('const kf_struct %s_desc = {"%s", sizeof(%s), 0, NULL};\n'
                     % (cn, cn, cn))
    for m in msgs:
        c.append('const kf_msg %s_msg = {"%s", %d, %d, %d, %d, &%s_desc};' %
                 (m["cname"], m["name"], m["api_key"], m["valid"][0],
                  m["valid"][1], m["flex"], m["cname"]))
    c.append("")
    c.append("const kf_msg *const kafka_all_msgs[] = {")
    for m in msgs:
        c.append("  &%s_msg," % m["cname"])
    c.append("};")
    c.append("const size_t kafka_all_msgs_count = "
             "sizeof kafka_all_msgs / sizeof kafka_all_msgs[0];")
    # Committed output follows the project's .clang-format like hand-written
    # code does; without clang-format the output is still valid C.
    for name, lines in (("kafka_msgs.h", h), ("kafka_msgs.c", c)):
        path = os.path.join(out_dir, name)
        with open(path, "w") as fh:
            fh.write(clang_format(path, "\n".join(lines) + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
