"""quota_wire.py — DescribeClientQuotas (48) and AlterClientQuotas (49) v0
over a raw socket, so a test can send what no admin client would (unknown
keys, a bad entity mix, validate_only) and read every field of the answer.

    with quota_wire.Conn(bootstrap) as c:
        c.alter([([("user", "alice")], [("producer_byte_rate", 1024, False)])])
        c.describe([("user", 0, "alice")], strict=False)
"""
import socket
import struct

import ndtest


def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _nstr(s):
    return struct.pack(">h", -1) if s is None else _str(s)


class _Reader:
    def __init__(self, data):
        self.d, self.i = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.i)
        self.i += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def nstr(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.d[self.i:self.i + n].decode()
        self.i += n
        return s


class Conn:
    def __init__(self, bootstrap, client_id="quota-test"):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.client_id = client_id
        self.corr = 0
        self.throttle_ms = 0  # of the last response

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, key, body):
        self.corr += 1
        ndtest.kafka_request(self.sock, key, 0, self.corr, body,
                             client_id=self.client_id)
        r = ndtest.recv_frame(self.sock, timeout=30)
        if r is None:
            raise ndtest.BrokerError("connection closed (API %d)" % key)
        rd = _Reader(r)
        if rd.take(">i") != self.corr:
            raise ndtest.BrokerError("wrong correlation id")
        return rd

    def describe(self, components, strict=False):
        """components: [(entity_type, match_type, match)]. Returns
        {"error": (code, message), "entries": sorted [(entity, values)]}
        with entity a sorted tuple of (type, name) and values a sorted
        tuple of (key, value)."""
        body = struct.pack(">i", len(components))
        for etype, mtype, match in components:
            body += _str(etype) + struct.pack(">b", mtype) + _nstr(match)
        body += struct.pack(">?", strict)
        rd = self._call(48, body)
        self.throttle_ms = rd.take(">i")
        err = (rd.take(">h"), rd.nstr())
        n = rd.take(">i")
        entries = []
        for _ in range(max(n, 0)):
            ent = tuple(sorted(((rd.nstr(), rd.nstr())
                                for _ in range(rd.take(">i"))), key=repr))
            vals = tuple(sorted((rd.nstr(), rd.take(">d"))
                                for _ in range(rd.take(">i"))))
            entries.append((ent, vals))
        return {"error": err,
                "entries": sorted(entries, key=repr) if n >= 0 else None}

    def alter(self, entries, validate_only=False):
        """entries: [([(entity_type, name)], [(key, value, remove)])].
        Returns [(code, message, entity)] in the response's order."""
        body = struct.pack(">i", len(entries))
        for entity, ops in entries:
            body += struct.pack(">i", len(entity))
            for etype, name in entity:
                body += _str(etype) + _nstr(name)
            body += struct.pack(">i", len(ops))
            for k, v, rm in ops:
                body += _str(k) + struct.pack(">d?", v, rm)
        body += struct.pack(">?", validate_only)
        rd = self._call(49, body)
        self.throttle_ms = rd.take(">i")
        out = []
        for _ in range(rd.take(">i")):
            code, msg = rd.take(">h"), rd.nstr()
            ent = [(rd.nstr(), rd.nstr()) for _ in range(rd.take(">i"))]
            out.append((code, msg, ent))
        return out

    def fetch(self, topic, partition=0, offset=0, max_bytes=1 << 20):
        """Fetch v4 of one partition: (throttle_time_ms, [(partition,
        error, high watermark, record bytes)]) — a throttled Fetch is
        answered with no partitions at all."""
        body = struct.pack(">iiiib", -1, 0, 1, max_bytes, 0)
        body += struct.pack(">i", 1) + _str(topic) + struct.pack(
            ">iiqi", 1, partition, offset, max_bytes)
        self.corr += 1
        ndtest.kafka_request(self.sock, 1, 4, self.corr, body,
                             client_id=self.client_id)
        r = ndtest.recv_frame(self.sock, timeout=30)
        if r is None:
            raise ndtest.BrokerError("connection closed (Fetch)")
        rd = _Reader(r)
        rd.take(">i")  # correlation id
        throttle = rd.take(">i")
        parts = []
        for _ in range(rd.take(">i")):
            rd.nstr()
            for _ in range(rd.take(">i")):
                p, err, hw, _lso = rd.take(">ihqq")
                for _ in range(max(rd.take(">i"), 0)):
                    rd.take(">qq")
                n = rd.take(">i")
                rd.i += max(n, 0)
                parts.append((p, err, hw, max(n, 0)))
        return throttle, parts
