"""Who a service is to NATS, and TLS, from settings: a .creds file, an NKey seed, user and password, or a token.

One faststream security object serves both faststream's broker and plain `nats.connect` (through faststream's own
`parse_security`), so the two never disagree. With several configured, the strongest wins: creds, NKey,
user/password, token. TLS is on when a CA or a client certificate is configured (or the URL says tls://).
"""

from __future__ import annotations

import ssl

from faststream.nats.security import NatsCredentials, NatsNKey, NatsSecurity, NatsToken, NatsUserPassword

from services.common.settings import Settings


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """Verify the server against the configured CA (else the system's); present a client certificate if given."""
    if settings.nats_tls_ca_file is None and settings.nats_tls_cert_file is None:
        return None
    context = ssl.create_default_context(cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None)
    if settings.nats_tls_cert_file is not None:
        key = settings.nats_tls_key_file
        context.load_cert_chain(str(settings.nats_tls_cert_file), str(key) if key else None)
    return context


def nats_security(settings: Settings) -> NatsSecurity | None:
    tls = tls_context(settings)
    if settings.nats_creds_file is not None:
        return NatsCredentials(str(settings.nats_creds_file), ssl_context=tls)
    if settings.nats_nkey_seed_file is not None:
        return NatsNKey.from_file(settings.nats_nkey_seed_file, ssl_context=tls)
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password, ssl_context=tls)
    if settings.nats_token is not None:
        return NatsToken(settings.nats_token.get_secret_value(), ssl_context=tls)
    return NatsSecurity(ssl_context=tls) if tls else None
