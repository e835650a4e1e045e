#!/usr/bin/python3
"""Make a signed JWT for tests (python3 stdlib + the openssl CLI).

    jwt.py KEY.pem RS256|ES256 '{"iss": ..., "aud": ..., "exp": ...}'

Prints the compact JWS. The payload values "now+N" / "now-N" become unix
times. ES256 signatures are converted from OpenSSL's DER to JWS's raw
r||s (RFC 7518 section 3.4).
"""
import base64, json, subprocess, sys, time


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_to_raw(der):
    # SEQUENCE { INTEGER r, INTEGER s }, short or long form lengths
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out


def main():
    key, alg, claims = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    now = int(time.time())
    for k, v in list(claims.items()):
        if isinstance(v, str) and v.startswith("now"):
            claims[k] = now + int(v[3:] or 0)
    header = {"alg": alg, "typ": "JWT"}
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         capture_output=True, check=True).stdout
    if alg == "ES256":
        sig = der_to_raw(sig)
    print(signing + "." + b64(sig))


main()
