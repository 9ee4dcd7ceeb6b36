"""AWS Signature Version 4, with hmac and hashlib: how `triscope optimize --provider bedrock`
signs its request (docs/ARCHITECTURE.md, "AI optimization").

The steps are AWS's published ones: a canonical request (method, the path with each segment
URI-encoded once more, the sorted query, the sorted lower-case headers and their names, the
body's SHA-256), the string to sign (algorithm, time, scope, the canonical request's
SHA-256), the signing key (HMAC-SHA256 chained over "AWS4" + secret, date, region, service,
"aws4_request"), and the signature over the string with that key. The secret never leaves
this module; only the signature and the access key's id go into the Authorization header.
"""

import datetime
import hashlib
import hmac
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
UNRESERVED = "-_.~"  # with letters and digits: what AWS leaves unencoded


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key of one day, region and service (date as YYYYMMDD)."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _canonical_path(path: str) -> str:
    # Services other than S3 sign each segment URI-encoded twice: the path as sent (already
    # encoded once) is encoded again, so %3A becomes %253A.
    return "/".join(urllib.parse.quote(segment, safe=UNRESERVED)
                    for segment in (path or "/").split("/"))


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{urllib.parse.quote(name, safe=UNRESERVED)}="
                    f"{urllib.parse.quote(value, safe=UNRESERVED)}"
                    for name, value in sorted(pairs))


def canonical_request(method: str, url: str, headers: dict, body: bytes):
    """(the canonical request, the signed header names joined by ';')."""
    parts = urllib.parse.urlsplit(url)
    lowered = {name.lower(): " ".join(str(value).split()) for name, value in headers.items()}
    names = sorted(lowered)
    signed = ";".join(names)
    return "\n".join([
        method.upper(), _canonical_path(parts.path), _canonical_query(parts.query),
        "".join(f"{name}:{lowered[name]}\n" for name in names), signed,
        hashlib.sha256(body).hexdigest(),
    ]), signed


def sign(method: str, url: str, headers: dict, body: bytes, *, access_key: str, secret: str,
         region: str, service: str, session_token=None, now=None) -> dict:
    """`headers` with Host, X-Amz-Date, X-Amz-Security-Token (with a session token) and the
    Authorization header added; every header given is signed."""
    moment = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(
        datetime.timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    date = stamp[:8]
    signed_headers = dict(headers)
    signed_headers["Host"] = urllib.parse.urlsplit(url).netloc
    signed_headers["X-Amz-Date"] = stamp
    if session_token:
        signed_headers["X-Amz-Security-Token"] = session_token
    request, names = canonical_request(method, url, signed_headers, body)
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope,
                         hashlib.sha256(request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret, date, region, service), to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    signed_headers["Authorization"] = (f"{ALGORITHM} Credential={access_key}/{scope}, "
                                       f"SignedHeaders={names}, Signature={signature}")
    return signed_headers
