# test_kafka_kcat.sh — kcat (librdkafka 2.0) against `nodata serve`:
# metadata, keyed produce with headers, consume from the beginning, from an
# offset, from a timestamp and to the end, every compression codec round
# trip byte for byte (and stored compressed), and a restart between
# produce and consume.
set -u
. "$(dirname "$0")/lib.sh"
nd_need kcat python3
nd_start

T=$(nd_tmp)
B=$ND_BOOTSTRAP

# -L: one broker, node 0, the controller.
kcat -b "$B" -m 10 -L >"$T/meta" 2>&1 || nd_fail "kcat -L failed: $(cat "$T/meta")"
grep -q 'broker 0 at 127.0.0.1:'"$ND_PORT"' (controller)' "$T/meta" ||
  nd_fail "kcat -L does not show broker 0 as controller: $(cat "$T/meta")"

# Keys and headers.
printf 'k1:v1\nk2:v2\nk3:v3\n' >"$T/in1"
nd_check "kcat produce with keys and headers" \
  kcat -b "$B" -m 10 -P -t keyed -K: -H h1=a -H h2=b -l "$T/in1"
kcat -b "$B" -m 10 -C -t keyed -o beginning -e -q \
  -f '%k=%s|%h|%o\n' >"$T/out1" 2>"$T/err1" || nd_fail "consume: $(cat "$T/err1")"
printf 'k1=v1|h1=a,h2=b|0\nk2=v2|h1=a,h2=b|1\nk3=v3|h1=a,h2=b|2\n' >"$T/want1"
cmp -s "$T/out1" "$T/want1" || nd_fail "keyed round trip: got $(cat "$T/out1")"

# From an offset, and the last one (-o -1).
got=$(kcat -b "$B" -m 10 -C -t keyed -o 1 -e -q -f '%s ')
[ "$got" = "v2 v3 " ] || nd_fail "from offset 1: got '$got'"
got=$(kcat -b "$B" -m 10 -C -t keyed -o -1 -e -q -f '%s ')
[ "$got" = "v3 " ] || nd_fail "from offset -1: got '$got'"

# From a timestamp. kcat stamps records with the current time, so: all of
# them are later than an hour ago and none is later than an hour from now
# (exact lookups with chosen timestamps are in test_kafka_confluent.py).
for i in 1 2 3; do
  echo "r$i" | kcat -b "$B" -m 10 -P -t timed || nd_fail "produce timed"
done
now_ms=$(($(date +%s) * 1000))
got=$(kcat -b "$B" -m 10 -C -t timed -o "s@$((now_ms - 3600000))" -e -q -f '%o ')
[ "$got" = "0 1 2 " ] || nd_fail "from timestamp an hour ago: got '$got'"
got=$(kcat -b "$B" -m 10 -C -t timed -o "s@$((now_ms + 3600000))" -e -q -f '%o ')
[ -z "$got" ] || nd_fail "from a future timestamp: got '$got'"

# Every codec, with compressible values so the client really compresses.
python3 - "$T" <<'EOF'
import sys
for c in ("none", "gzip", "snappy", "lz4", "zstd"):
    with open("%s/codec_%s" % (sys.argv[1], c), "w") as f:
        for i in range(200):
            f.write("key%d:%s-%d-%s\n" % (i, c, i, "abcdefgh" * 30))
EOF
for c in none gzip snappy lz4 zstd; do
  nd_check "produce with $c" kcat -b "$B" -m 10 -P -t "codec_$c" -K: -z "$c" -l "$T/codec_$c"
done

# Restart between produce and consume: everything comes back from disk.
nd_restart

for c in none gzip snappy lz4 zstd; do
  kcat -b "$B" -m 10 -C -t "codec_$c" -o beginning -e -q -f '%k:%s\n' \
    >"$T/codec_$c.out" 2>"$T/err" || nd_fail "consume $c: $(cat "$T/err")"
  cmp -s "$T/codec_$c" "$T/codec_$c.out" || nd_fail "codec $c: not byte-identical"
done
got=$(kcat -b "$B" -m 10 -C -t keyed -o beginning -e -q -f '%k=%s ')
[ "$got" = "k1=v1 k2=v2 k3=v3 " ] || nd_fail "after restart: got '$got'"

# The batches are stored as the client compressed them (librdkafka 2.0
# compresses with lz4 only when the broker offers FindCoordinator v0,
# kafka-protocol.md §3, so this also checks the advertised versions).
nd_stop
[ "$ND_EXIT" = 0 ] || nd_fail "nodata serve exited with $ND_EXIT"
! grep -q -e Sanitizer -e 'runtime error' "$ND_ERR" || nd_fail "sanitizer report"
python3 - "$ND_DATA" <<'EOF' || nd_fail "stored codecs differ from the requested ones"
import glob, hashlib, os, struct, sys
want = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
ok = True
for name, codec in want.items():
    d = os.path.join(sys.argv[1], "topics",
                     hashlib.sha256(("codec_" + name).encode()).hexdigest(), "0")
    logs = sorted(glob.glob(os.path.join(d, "*.log")))
    data = open(logs[0], "rb").read()
    got = struct.unpack(">h", data[21:23])[0] & 7
    if got != codec:
        print("codec_%s: stored codec %d, want %d" % (name, got, codec))
        ok = False
sys.exit(0 if ok else 1)
EOF
nd_pass
