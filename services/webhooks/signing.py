"""Signed deliveries: HMAC-SHA256 of the exact body with the endpoint's shared secret, as a header.

The receiver computes the same HMAC over the raw body it got and compares in constant time
(`hmac.compare_digest`); a match proves the body came from us, unchanged.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Crisis-Signature"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, body), header)
