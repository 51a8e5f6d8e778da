"""What a NATS server refused, as one line naming the cause (never the password).

``connect_refusal(exc, settings)`` maps an error met while connecting to the oslo
exception that ends the attempt at once (wrong credentials, a TLS mismatch, an
untrusted certificate, a missing client certificate), or None when retrying may help
(nothing listening yet, a connection reset). ``permission_denied(exc)`` reads a
permissions violation the server reported: ``("publish" | "subscription", subject)``.
"""

from __future__ import annotations

import re
import ssl

import oslo_messaging
from nats import errors as nats_errors

from hybridmsg.drivers.nats.settings import NatsSettings

_PERMISSION = re.compile(r"permissions violation for (publish|subscription) to \"?([^\"' ]+)", re.I)
_NOT_TLS = (
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
)
_TLS_SETTINGS = "the transport URL (?ssl=1&ssl_ca_file=...) or [oslo_messaging_nats]"


def connect_refusal(
    exc: BaseException, settings: NatsSettings
) -> oslo_messaging.MessagingException | None:
    """The one-line exception that should end a connection attempt, or None."""
    where = f"NATS server at {', '.join(settings.servers)}"
    text = str(exc)
    if isinstance(exc, nats_errors.AuthorizationError) or "authorization violation" in text.lower():
        why = f"{where} refused user {settings.user!r}: wrong user or password in the transport URL"
    elif isinstance(exc, ssl.SSLCertVerificationError) and settings.tls is None:
        why = f"{where} requires TLS; turn on ssl with ssl_ca_file in {_TLS_SETTINGS}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        why = (
            f"the certificate of the {where} is not trusted ({exc.verify_message}); set "
            f"ssl_ca_file to the CA that signed it in {_TLS_SETTINGS}"
        )
    elif isinstance(exc, ssl.SSLError) and "CERTIFICATE_REQUIRED" in text:
        why = f"{where} requires a client certificate; set ssl_cert_file and ssl_key_file"
    elif isinstance(exc, ssl.SSLError) and any(mark in text for mark in _NOT_TLS):
        why = (
            f"{where} did not answer the TLS handshake: no TLS on that port (turn ssl off), "
            "or its tls block lacks handshake_first"
        )
    elif isinstance(exc, ssl.SSLError):
        why = f"TLS with the {where} failed ({exc.reason or text}); check the ssl_* options"
    else:
        return None
    return oslo_messaging.MessagingException(why)


def permission_denied(exc: BaseException) -> tuple[str, str] | None:
    """``(kind, subject)`` of a permissions violation, or None for any other error."""
    match = _PERMISSION.search(str(exc))
    return (match.group(1).lower(), match.group(2)) if match else None
