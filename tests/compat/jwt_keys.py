"""jwt_keys.py — signing keys, JWKS documents and JWTs for the OAUTHBEARER
tests, made with the openssl command (no Python dependency).

    path, jwk = rsa_key(tmp, "rsa1")        # PEM private key, its JWK
    path, jwk = ec_key(tmp, "ec1")          # EC P-256
    token = jwt(path, "rsa1", claims)       # RS256 (alg="ES256", "none")
"""
import base64
import json
import os
import subprocess

import ndtest


def openssl(*args, stdin=None):
    r = subprocess.run(["openssl"] + list(args), input=stdin,
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        ndtest.fail("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_ints(der):
    """The two INTEGERs of a DER ECDSA signature (SEQUENCE { r, s })."""
    assert der[0] == 0x30
    off = 2 if der[1] < 0x80 else 3
    out = []
    for _ in range(2):
        assert der[off] == 0x02
        n = der[off + 1]
        out.append(int.from_bytes(der[off + 2:off + 2 + n], "big"))
        off += 2 + n
    return out


def rsa_key(tmp, name):
    path = os.path.join(tmp, name + ".pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
            "rsa_keygen_bits:2048", "-out", path)
    mod = openssl("rsa", "-in", path, "-noout", "-modulus").decode()
    n = bytes.fromhex(mod.strip().split("=", 1)[1])
    return path, {"kty": "RSA", "kid": name, "use": "sig", "alg": "RS256",
                  "n": b64u(n), "e": b64u((65537).to_bytes(3, "big"))}


def ec_key(tmp, name):
    path = os.path.join(tmp, name + ".pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-out", path)
    pub = openssl("pkey", "-in", path, "-pubout", "-outform", "DER")[-65:]
    assert pub[0] == 4
    return path, {"kty": "EC", "kid": name, "crv": "P-256",
                  "x": b64u(pub[1:33]), "y": b64u(pub[33:])}


def jwt(key, kid, claims, alg="RS256"):
    head = b64u(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims).encode())
    msg = ("%s.%s" % (head, body)).encode()
    if alg == "none":
        return msg.decode() + "."
    sig = openssl("dgst", "-sha256", "-sign", key, stdin=msg)
    if alg == "ES256":
        r, s = der_ints(sig)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return msg.decode() + "." + b64u(sig)
