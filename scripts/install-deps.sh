#!/usr/bin/env bash
# Install, from Debian's packages, whatever the build and the tests need and
# this machine lacks. Safe to run again: it only calls apt-get when a package
# is missing. Usage: scripts/install-deps.sh [build|test|all]
set -euo pipefail

build_pkgs=(gcc clang make cmake pkg-config
            zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev
            librdkafka-dev  # nodata groups --bootstrap (cli/groups_kafka.c)
            libssl-dev openssl)  # TLS, SCRAM, JWT in nodata serve (broker/security.h)
# systemd: systemd-analyze, which checks dist/nodata.service
# (tests/compat/test_systemd_unit.sh); it needs no systemd running.
test_pkgs=(kcat python3 python3-confluent-kafka python3-kafka
           python3-snappy python3-lz4 python3-zstandard
           libsqlite3-dev liblmdb-dev redis-server libclang-rt-14-dev valgrind clang-format
           e2fsprogs systemd
           chromium)  # the web console's browser tests (tests/console/)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  test|all) want+=("${test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac

missing=()
# Apache Kafka for the differential tests (tests/kafka/pom.xml): any Java
# 17+ and Maven will do, so Debian's only when there is none. A JDK, not a
# JRE: tests/kafka/DiffJava.java runs by source launch, which compiles.
if [ "${1:-all}" != build ]; then
  command -v javac >/dev/null || want+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null || want+=(maven)
  # The PyPI clients' venv (tests/compat/pyvenv.py), and the npm clients
  # (tests/compat/jsdeps.py): @confluentinc/kafka-javascript builds its
  # bundled librdkafka with node-gyp against these libraries when its
  # prebuilt binary (on GitHub) cannot be fetched. Any Node 20.19+ will
  # do (@platformatic/kafka's floor), so Debian's only when there is none.
  want+=(python3-venv g++ make libssl-dev libsasl2-dev libcurl4-openssl-dev)
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
