"""cgh_wire.py — ConsumerGroupHeartbeat (68, v0-v1, flexible) and
CreateTopics (19, v4) over a raw socket, so a test can drive KIP-848
members step by step (join, owned partitions, leave) and read every field
of the answer, on nodata and on Apache Kafka alike.

    with cgh_wire.Conn(bootstrap) as c:
        c.create_topic("t", 6)
        r = c.heartbeat("g", "m1", 0, topics=["t"], rebalance_ms=30000,
                        owned=[])
        r["error"], r["epoch"], r["assignment"]  # {topic_id: [partitions]}
"""
import socket
import struct


def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _cstr(s):
    """Compact nullable string."""
    if s is None:
        return _uvarint(0)
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def _carr(items, enc):
    if items is None:
        return _uvarint(0)
    return _uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


class _R:
    def __init__(self, d):
        self.d, self.i = d, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.i)
        self.i += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.d[self.i]
            self.i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def cstr(self):
        n = self.uvarint()
        if n == 0:
            return None
        s = self.d[self.i:self.i + n - 1].decode()
        self.i += n - 1
        return s

    def str16(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.d[self.i:self.i + n].decode()
        self.i += n
        return s

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.i += self.uvarint()


class Conn:
    def __init__(self, bootstrap, client_id="cgh-test"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.client_id = client_id.encode()
        self.corr = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            c = self.sock.recv(n - len(buf))
            if not c:
                raise ConnectionError("closed by the broker")
            buf += c
        return buf

    def _call(self, key, ver, body, flexible):
        self.corr += 1
        hdr = struct.pack(">hhi", key, ver, self.corr)
        hdr += struct.pack(">h", len(self.client_id)) + self.client_id
        if flexible:
            hdr += _uvarint(0)
        msg = hdr + body
        self.sock.sendall(struct.pack(">i", len(msg)) + msg)
        (n,) = struct.unpack(">i", self._recv(4))
        r = _R(self._recv(n))
        corr = r.take(">i")
        assert corr == self.corr, (corr, self.corr)
        if flexible:
            r.tags()
        return r

    def create_topic(self, name, partitions):
        """CreateTopics v4; returns the error code (36: exists)."""
        body = struct.pack(">i", 1)
        nb = name.encode()
        body += struct.pack(">h", len(nb)) + nb
        body += struct.pack(">ihii", partitions, 1, 0, 0)
        body += struct.pack(">ib", 30000, 0)
        r = self._call(19, 4, body, False)
        r.take(">i")
        r.take(">i")
        r.str16()
        err = r.take(">h")
        r.str16()
        return err

    def find_coordinator(self, group):
        """FindCoordinator v2 for a group: its error code."""
        gb = group.encode()
        r = self._call(10, 2, struct.pack(">h", len(gb)) + gb + b"\0", False)
        r.take(">i")
        return r.take(">h")

    def wait_coordinator(self, group, timeout=60):
        """Until the group's coordinator answers (Kafka creates and loads
        __consumer_offsets on the first FindCoordinator)."""
        import time
        end = time.time() + timeout
        while True:
            err = self.find_coordinator(group)
            if err == 0:
                r = self.heartbeat(group, "probe", -1)
                if r["error"] not in (14, 15, 16):  # loading, not available
                    return
            if time.time() > end:
                raise TimeoutError("no coordinator for group %s" % group)
            time.sleep(0.2)

    def heartbeat(self, group, member, epoch, instance=None, rack=None,
                  rebalance_ms=-1, topics=None, regex=None, assignor=None,
                  owned=None, version=1):
        """owned: None (not sent) or [(topic_id bytes, [partitions])]."""
        body = _cstr(group) + _cstr(member) + struct.pack(">i", epoch)
        body += _cstr(instance) + _cstr(rack)
        body += struct.pack(">i", rebalance_ms)
        body += _carr(topics, _cstr)
        if version >= 1:
            body += _cstr(regex)
        body += _cstr(assignor)

        def tp(x):
            tid, parts = x
            return tid + _carr(parts, lambda p: struct.pack(">i", p)) + \
                _uvarint(0)
        body += _carr(owned, tp) + _uvarint(0)
        r = self._call(68, version, body, True)
        out = {"throttle": r.take(">i"), "error": r.take(">h"),
               "message": r.cstr(), "member_id": r.cstr(),
               "epoch": r.take(">i"), "interval": r.take(">i")}
        mark = r.take(">b")
        if mark < 0:
            out["assignment"] = None
        else:
            a = {}
            for _ in range(r.uvarint() - 1):
                tid = r.d[r.i:r.i + 16]
                r.i += 16
                parts = [r.take(">i") for _ in range(r.uvarint() - 1)]
                r.tags()
                a[tid] = sorted(parts)
            r.tags()
            out["assignment"] = a
        r.tags()
        return out
