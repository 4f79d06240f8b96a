"""test_cgroup_assign_kafka.py — nodata's server-side assignors and
subscription regexes (broker/cgroup_assign.c, broker/cgroup_regex.c)
against Kafka 4.4's own code (issue 22).

tests/kafka/AssignJava.java runs Kafka's UniformAssignor and RangeAssignor
and RE2/J (the library Kafka resolves SubscribedTopicRegex with) on cases
read from stdin; `test_cgroup_assign --stdin` (a mode of the C unit test)
runs cg_assign and cg_regex on the same. Both print one line per member
and per pattern; every line must be the same.

Assignor cases are seeded random groups: 1-12 members (and 40 groups of
up to 60), 1-5 topics of 1-30 partitions; homogeneous and heterogeneous subscriptions; no current
assignment, the last result (a stable group), that result after members
left and joined and topics grew (a rebalance), or random current
partitions; static members (instance ids); both assignors on each.
Regex cases are a corpus of patterns RE2/J accepts and refuses plus 600
random sequences of syntax pieces (well and badly formed), each matched
against a list of topic names (whole-name matches, as Matcher.matches());
a refusal must carry RE2/J's description.
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndtest  # noqa: E402
import apache_kafka  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
KAFKA = os.path.join(os.path.dirname(HERE), "kafka")
ALPHA = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
         "0123456789-_")

NAMES = ["orders", "orders-eu", "orders.eu", "Orders", "payments",
         "pay_ments", "a", "ab", "abc", "aaa", "b", "topic-1", "topic-12",
         "topic-x", "x.y.z", "xyz", "_hidden", "__consumer_offsets",
         "9lives", "z-9", "A-B_c.d", "foo", "foobar", "barfoo", "ORDERS-EU"]

# Patterns: plain, classes, repetition, alternation, flags, escapes,
# anchors, Unicode classes, and ones RE2/J refuses.
PATTERNS = [
    "orders", "orders.*", ".*", "", ".", "o.*s", "orders-(eu|us)",
    "topic-[0-9]+", "topic-\\d+", "topic-\\d{1,2}", "topic-\\d{2}",
    "[a-z]+", "[^a-z]+", "[[:alpha:]]+", "[[:digit:]a-c]+", "[[:^alpha:]]+",
    "\\w+", "\\W", "\\s*foo", "\\Dx", "x\\.y\\.z", "x.y.z", "(?i)orders",
    "(?i:ORDERS)-eu", "(?s).*", "(?U)a+", "a+?", "a*?b?", "a{2,}", "a{,2}",
    "a{3}", "(a|b)+", "(?:ab|a)c?", "(?P<name>foo)bar", "^foo$", "^foo",
    "foo$", "\\Afoo\\z", "\\bfoo\\b", "\\Bfoo", "foo|", "|foo", "(foo)?",
    "\\pL+", "\\p{L}+", "\\PL+", "\\p{Lu}.*", "\\p{Greek}", "\\pN+",
    "\\p{^L}+", "[\\p{Lu}\\d]+", "\\x{61}b", "\\x61b", "\\141", "\\Q.*\\E",
    "\\Qa.b", "[a-]+", "[-a]+", "[]a]", "[^]a]+", "\\-", "a{1000}",
    "a{1001}", "a{2,1}", "(a", "a)", "[a", "a**", "a++", "*a", "+a", "?a",
    "a{1,2}{3}", "(?<name>a)", "(?P<1a>x)", "(?P<n>a)(?P<n>b)", "\\1",
    "(a)\\1", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "\\z", "\\Z", "\\e",
    "\\cA", "\\p{Foo}", "\\pX", "[z-a]", "[[:foo:]]", "(?i)(?x)a", "(?x)",
    "\\8", "x{2}{,3}", "a|*", "()", "(|)", "[\\d-z]", "\\C", "\\G",
    "topic-.{1,3}", "_.*", "__.*", "[[:upper:]][[:lower:]]+", "\\v", "\\f",
    "[\\x41-\\x5a]+", "\\N{DIGIT ONE}", "(?m)^a$", "(?-s).", "(?i-s:a)",
    "(?", "(?)", "(?:", "x{1001,}", "x{0,1000}", "\\pZ", "\\p{Any}",
    "[[=a=]]", "[[.a.]]", "a{", "a{1", "a{1,", "{", "}", "]", "a]",
]


# Pieces of random patterns: every kind of RE2 syntax, well and badly
# formed, so that sequences of them exercise the parser's corners.
PIECES = ["a", "b", "o", "A", "K", "s", "1", "-", "_", ".", "\\.", "\\d",
          "\\w", "\\W", "\\s", "[a-c]", "[^a]", "[[:upper:]]",
          "[[:^digit:]_]", "[\\w-]", "\\pL", "\\PN", "\\p{Lu}", "(", ")",
          "(?:", "(?i)", "(?i:", "(?-i)", "(?P<g>", "|", "*", "+", "?", "*?",
          "{1,2}", "{2}", "{0}", "{,2}", "{", "}", "^", "$", "\\b", "\\B",
          "\\A", "\\z", "\\Q", "\\E", "\\x{41}", "\\101", "[", "]",
          "\\", "\\k", "[a-", "\u017f", "\u212a", "(?s)", "(?m)"]


def random_patterns(rng, n):
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(PIECES)
                           for _ in range(rng.randint(1, 6))))
    return out


def random_names(rng, n):
    alpha = "abosAKS1-_."
    return [
        "".join(rng.choice(alpha) for _ in range(rng.randint(1, 4)))
        for _ in range(n)]


def case_lines(rng, cid, assignor, topics, members):
    # Now and then the coordinator's view: equal subscriptions of existing
    # topics, but HETEROGENEOUS (a member also names a missing topic).
    hetero = " hetero" if rng.random() < 0.1 else ""
    lines = ["case %s %s%s" % (cid, assignor, hetero)]
    for tid, np in topics:
        lines.append("topic %s %d" % (tid, np))
    for mid, inst, subs, cur in members:
        cur = sorted(cur)  # cg_parts order: topic id bytes, then partition
        lines.append("member %s %s %s %s" % (
            mid, inst or "-", ",".join(map(str, subs)) or "-",
            ",".join("%s:%d" % tp for tp in cur) or "-"))
    lines.append("end")
    return lines


def random_group(rng, max_members=12):
    nt = rng.randint(1, 5)
    topics = [("%032x" % rng.getrandbits(128), rng.randint(1, 30))
              for _ in range(nt)]
    homog = rng.random() < 0.5
    common = rng.sample(range(nt), rng.randint(1, nt))
    members = []
    for _ in range(rng.randint(1, max_members)):
        mid = "".join(rng.choice(ALPHA) for _ in range(22))
        if rng.random() < 0.1:
            # Java orders and hashes strings by UTF-16 code units: a
            # character beyond U+FFFF sorts below U+FFxx there.
            mid = rng.choice(["\u00e9", "\u4e2d", "\uff5e", "\U0001f600",
                              "\U00010400"]) + mid[1:]
        inst = (rng.choice(["i-", "\uff5e", "\U0001f600"]) +
                str(rng.randint(0, 99)) if rng.random() < 0.3 else None)
        if homog:
            subs = rng.sample(common, len(common))  # same set, any order
        else:
            subs = rng.sample(range(nt), rng.randint(0, nt))
        members.append([mid, inst, subs, []])
    # Distinct instance ids, as Kafka's coordinator keeps them.
    seen = set()
    for m in members:
        if m[1] in seen:
            m[1] = None
        seen.add(m[1])
    return topics, members


def parse(out):
    """case id -> {member: line}; and the regex lines in order."""
    cases, regexes, cur = {}, [], None
    for line in out.splitlines():
        if line.startswith("case "):
            cur = cases.setdefault(line[5:], [])
        elif line.startswith("regex "):
            regexes.append(line)
        else:
            cur.append(line)
    return cases, regexes


def as_current(topics, line):
    """A member's result line back to (topic id, partition) pairs."""
    parts = line.split(" ")[2]
    if parts == "-":
        return []
    return [(topics[int(t)][0], int(p))
            for t, p in (x.split(":") for x in parts.split(","))]


def run(cmd, text, cwd=None):
    r = subprocess.run(cmd, input=text, capture_output=True, text=True,
                       encoding="utf-8", cwd=cwd, timeout=600)
    if r.returncode != 0:
        ndtest.fail("%s exited %d:\n%s" % (cmd[0], r.returncode,
                                             r.stderr[-3000:]))
    return r.stdout


def main():
    build = os.environ.get("ND_BUILD_DIR") or os.path.join(
        os.path.dirname(os.path.dirname(HERE)), "build")
    driver = os.path.join(build, "tests", "test_cgroup_assign")
    if not os.path.exists(driver):
        ndtest.fail("no %s: build the tests first" % driver)
    cp = apache_kafka.classpath(os.path.join(KAFKA, "assign", "pom.xml"))
    java = ["java", "-Xmx512m", "-cp", cp,
            os.path.join(KAFKA, "AssignJava.java")]
    seed = int(os.environ.get("ND_SEED", "22848"))
    rng = random.Random(seed)

    # Round 1: fresh groups. Round 2: each round-1 result as the current
    # assignment, after members left/joined, topics grew, or as is; plus
    # random current partitions.
    groups, lines = {}, []
    for i in range(340):
        # The last 40: larger groups, whose Java HashMaps have grown.
        topics, members = random_group(rng, 12 if i < 300 else 60)
        for assignor in ("uniform", "range"):
            cid = "%d-%s-0" % (i, assignor)
            groups[cid] = (topics, members)
            lines += case_lines(rng, cid, assignor, topics, members)
    kafka_out = run(java, "\n".join(lines) + "\n")
    nd_out = run([driver, "--stdin"], "\n".join(lines) + "\n")
    k1, _ = parse(kafka_out)
    n1, _ = parse(nd_out)

    lines2 = []
    for cid, (topics, members) in groups.items():
        if cid not in k1:
            continue
        res = {l.split(" ")[1]: l for l in k1[cid] if l.startswith("m ")}
        ms = [[m[0], m[1], m[2], as_current(topics, res[m[0]])]
              if m[0] in res else list(m) for m in members]
        topics = list(topics)
        change = rng.randrange(5)
        if change == 1 and len(ms) > 1:
            del ms[rng.randrange(len(ms))]
        elif change == 2:
            nt = len(topics)
            ms.append(["".join(rng.choice(ALPHA) for _ in range(22)), None,
                       rng.sample(range(nt), rng.randint(0, nt)), []])
        elif change == 3:
            k = rng.randrange(len(topics))
            topics[k] = (topics[k][0], min(30, topics[k][1] + 3))
        elif change == 4:
            for m in ms:
                m[3] = [(t[0], p) for t in topics for p in range(t[1])
                        if rng.random() < 0.1]
            # a partition held twice is not something Kafka builds
            seen = set()
            for m in ms:
                m[3] = [tp for tp in m[3] if not (tp in seen or seen.add(tp))]
        lines2 += case_lines(rng, cid[:-1] + "1", cid.split("-")[1],
                             topics, ms)
    patterns = PATTERNS + random_patterns(rng, 600)
    names = NAMES + random_names(rng, 40)
    for pattern in patterns:
        lines2.append("regex h%s %s" % (pattern.encode().hex(),
                                        ",".join(names)))
    if os.environ.get("ND_DUMP"):  # the cases, to run one by hand
        with open(os.environ["ND_DUMP"], "w") as f:
            f.write("\n".join(lines + lines2) + "\n")
    kafka_out2 = run(java, "\n".join(lines2) + "\n")
    nd_out2 = run([driver, "--stdin"], "\n".join(lines2) + "\n")
    k2, kre = parse(kafka_out2)
    n2, nre = parse(nd_out2)

    bad = []
    for k, n in ((k1, n1), (k2, n2)):
        for cid, want in sorted(k.items()):
            if n.get(cid) != want:
                bad.append("case %s:\n  kafka:  %s\n  nodata: %s" % (
                    cid, "\n          ".join(want),
                    "\n          ".join(n.get(cid, ["(missing)"]))))
    rbad = []
    for pattern, want, got in zip(patterns, kre, nre):
        if want != got:
            rbad.append("%r:\n  kafka:  %s\n  nodata: %s" % (pattern, want,
                                                             got))
    ncases = len(k1) + len(k2)
    print("%d assignor cases, %d differ; %d regex cases, %d differ"
          % (ncases, len(bad), len(patterns), len(rbad)))
    if ncases < 1300 or len(kre) != len(patterns):
        ndtest.fail("the harness answered %d cases and %d patterns"
                    % (ncases, len(kre)))
    if bad or rbad:
        ndtest.fail("\n".join(bad[:10] + rbad[:40]))
    ndtest.passed()


if __name__ == "__main__":
    main()
