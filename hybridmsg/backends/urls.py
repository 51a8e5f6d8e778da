"""Transport URLs (oslo.messaging style) for servers run by the backends.

``transport_url("rabbit", "127.0.0.1", 5672, "nova", "s3cret", "nova")``
-> ``"rabbit://nova:s3cret@127.0.0.1:5672/nova"``; user, password and vhost are
percent-quoted. The result holds a password: never log it.
"""

from __future__ import annotations

from urllib.parse import quote


def transport_url(
    scheme: str, host: str, port: int, user: str, password: str, vhost: str = ""
) -> str:
    """``scheme://user:password@host:port/vhost`` with every part quoted."""
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"{scheme}://{credentials}@{host}:{port}/{quote(vhost, safe='')}"
