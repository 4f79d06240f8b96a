"""kwire.py — any Kafka request over a raw socket, encoded and decoded from
Kafka's own message schemas (the JSON files inside kafka-clients 4.4.0's
jar), so a test can send exactly the fields it means and read every field
of the answer without going through the broker's codec or a client's.

    with kwire.Conn(bootstrap) as c:
        r = c.call("ConsumerGroupDescribe", 1,
                   {"GroupIds": ["g"], "IncludeAuthorizedOperations": True})
        r["Groups"][0]["ErrorCode"]

Requests are dicts by the schema's field names; a field left out gets its
schema default (0, "", null, empty array, false). Responses come back as
dicts the same way. Only what the schemas say is used: versions,
nullableVersions, flexibleVersions, tagged fields, commonStructs.
"""
import json
import os
import re
import socket
import struct
import uuid as _uuid
import zipfile

# The jar: KAFKA_CLIENTS_JAR, else /tmp's copy, else Maven's (the tests'
# Kafka puts it in ~/.m2).
_M2_JAR = os.path.expanduser("~/.m2/repository/org/apache/kafka/"
                             "kafka-clients/4.4.0/kafka-clients-4.4.0.jar")
JAR = os.environ.get("KAFKA_CLIENTS_JAR") or (
    _M2_JAR if not os.path.exists("/tmp/kafka-clients-4.4.0.jar") and
    os.path.exists(_M2_JAR) else "/tmp/kafka-clients-4.4.0.jar")
_cache = {}


def _load(name):
    if name not in _cache:
        with zipfile.ZipFile(JAR) as z:
            text = z.read("common/message/%s.json" % name).decode()
        text = "\n".join(line for line in text.splitlines()
                         if not line.strip().startswith("//"))
        _cache[name] = json.loads(text)
    return _cache[name]


def _in(spec, v):
    """Is version v in a schema range ("0+", "1-3", "2", "none")?"""
    if not spec or spec == "none":
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


def _uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


_FIXED = {"int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i",
          "int64": ">q", "float64": ">d", "bool": ">?"}


class _Codec:
    def __init__(self, schema, version):
        self.v = version
        self.flex = _in(schema.get("flexibleVersions", "none"), version)
        self.common = {s["name"]: s["fields"]
                       for s in schema.get("commonStructs", [])}

    def _fields_of(self, f):
        return f.get("fields") or self.common.get(
            f["type"].lstrip("[]"), None)

    # -- encoding --
    def _len(self, n, null=False):
        if self.flex:
            return _uvarint(0 if null else n + 1)
        return struct.pack(">h" if n is None else ">i", -1) if null else None

    def _enc_str(self, s):
        if s is None:
            return _uvarint(0) if self.flex else struct.pack(">h", -1)
        b = s.encode()
        return (_uvarint(len(b) + 1) if self.flex
                else struct.pack(">h", len(b))) + b

    def _enc_bytes(self, b):
        if b is None:
            return _uvarint(0) if self.flex else struct.pack(">i", -1)
        return (_uvarint(len(b) + 1) if self.flex
                else struct.pack(">i", len(b))) + b

    def _enc_scalar(self, t, val):
        if t in _FIXED:
            return struct.pack(_FIXED[t], val)
        if t == "string":
            return self._enc_str(val)
        if t in ("bytes", "records"):
            return self._enc_bytes(val)
        if t == "uuid":
            return (val or _uuid.UUID(int=0)).bytes if isinstance(
                val, _uuid.UUID) or val is None else bytes(val)
        raise ValueError("type " + t)

    def _default(self, f):
        t = f["type"]
        d = f.get("default")
        if d == "null":
            return None
        if t.startswith("[]"):
            return []
        if d == "null":
            return None
        if t in _FIXED:
            if t == "bool":
                return d == "true"
            if t == "float64":
                return float(d or 0)
            return int(str(d), 0) if d is not None else 0
        if t == "string":
            return d or ""
        if t in ("bytes", "records"):
            return b""
        if t == "uuid":
            return None
        return {}

    def _enc_value(self, f, val):
        t = f["type"]
        if t.startswith("[]"):
            if val is None:
                return _uvarint(0) if self.flex else struct.pack(">i", -1)
            out = _uvarint(len(val) + 1) if self.flex else struct.pack(
                ">i", len(val))
            sub = t[2:]
            for item in val:
                if sub in _FIXED or sub in ("string", "bytes", "uuid"):
                    out += self._enc_scalar(sub, item)
                else:
                    out += self.encode_struct(self._fields_of(f), item)
            return out
        if t in _FIXED or t in ("string", "bytes", "records", "uuid"):
            return self._enc_scalar(t, val)
        if val is None:  # a nullable struct
            return struct.pack(">b", -1)
        return self.encode_struct(self._fields_of(f), val)

    def encode_struct(self, fields, d):
        out, tagged = b"", []
        for f in fields:
            if not _in(f.get("versions"), self.v):
                continue
            val = d.get(f["name"], self._default(f))
            if self.flex and _in(f.get("taggedVersions"), self.v):
                if val != self._default(f):
                    tagged.append((f["tag"], self._enc_value(f, val)))
                continue
            out += self._enc_value(f, val)
        if self.flex:
            out += _uvarint(len(tagged))
            for tag, data in sorted(tagged):
                out += _uvarint(tag) + _uvarint(len(data)) + data
        return out

    # -- decoding --
    def _uv(self, r):
        n = shift = 0
        while True:
            b = r.d[r.i]
            r.i += 1
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def _take(self, r, fmt):
        v = struct.unpack_from(fmt, r.d, r.i)[0]
        r.i += struct.calcsize(fmt)
        return v

    def _dec_len(self, r, short):
        if self.flex:
            return self._uv(r) - 1
        return self._take(r, ">h" if short else ">i")

    def _dec_scalar(self, r, t):
        if t in _FIXED:
            return self._take(r, _FIXED[t])
        if t == "string":
            n = self._dec_len(r, True)
            if n < 0:
                return None
            s = r.d[r.i:r.i + n].decode()
            r.i += n
            return s
        if t in ("bytes", "records"):
            n = self._dec_len(r, False)
            if n < 0:
                return None
            b = r.d[r.i:r.i + n]
            r.i += n
            return b
        if t == "uuid":
            b = r.d[r.i:r.i + 16]
            r.i += 16
            return str(_uuid.UUID(bytes=b))
        raise ValueError("type " + t)

    def _dec_value(self, r, f):
        t = f["type"]
        if t.startswith("[]"):
            n = self._dec_len(r, False)
            if n < 0:
                return None
            sub = t[2:]
            if sub in _FIXED or sub in ("string", "bytes", "uuid"):
                return [self._dec_scalar(r, sub) for _ in range(n)]
            return [self.decode_struct(r, self._fields_of(f))
                    for _ in range(n)]
        if t in _FIXED or t in ("string", "bytes", "records", "uuid"):
            return self._dec_scalar(r, t)
        if _in(f.get("nullableVersions"), self.v):
            if self._take(r, ">b") < 0:
                return None
        return self.decode_struct(r, self._fields_of(f))

    def decode_struct(self, r, fields):
        d, bytag = {}, {}
        for f in fields:
            if not _in(f.get("versions"), self.v):
                continue
            if self.flex and _in(f.get("taggedVersions"), self.v):
                d[f["name"]] = self._default(f)
                bytag[f["tag"]] = f
                continue
            d[f["name"]] = self._dec_value(r, f)
        if self.flex:
            for _ in range(self._uv(r)):
                tag, size = self._uv(r), self._uv(r)
                end = r.i + size
                if tag in bytag:
                    d[bytag[tag]["name"]] = self._dec_value(r, bytag[tag])
                r.i = end
        return d


class _Reader:
    def __init__(self, data):
        self.d, self.i = data, 0


def _api_name(name):
    return re.sub(r"(Request|Response)$", "", name)


class Conn:
    """One connection to a broker; call() sends one request and returns
    its decoded response (a dict)."""

    def __init__(self, bootstrap, client_id="kwire", timeout=30):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)),
                                             timeout=timeout)
        self.client_id = client_id
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
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return buf

    def call(self, api, version, body):
        req = _load(api + "Request")
        resp = _load(api + "Response")
        rc = _Codec(req, version)
        self.corr += 1
        cid = self.client_id.encode()
        hdr = struct.pack(">hhi", req["apiKey"], version, self.corr)
        hdr += struct.pack(">h", len(cid)) + cid
        if rc.flex:
            hdr += _uvarint(0)
        payload = hdr + rc.encode_struct(req["fields"], body)
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._recv(4))[0]
        r = _Reader(self._recv(size))
        corr = struct.unpack_from(">i", r.d, 0)[0]
        r.i = 4
        if corr != self.corr:
            raise ValueError("correlation id %d, want %d" % (corr, self.corr))
        dc = _Codec(resp, version)
        # ApiVersions answers with header v0 at every version.
        if dc.flex and req["apiKey"] != 18:
            for _ in range(dc._uv(r)):
                dc._uv(r)
                r.i += dc._uv(r)
        return dc.decode_struct(r, resp["fields"])


def call(bootstrap, api, version, body):
    """One request on a fresh connection."""
    with Conn(bootstrap) as c:
        return c.call(api, version, body)
