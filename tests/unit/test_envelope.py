"""Request and reply bodies: round trips and what counts as malformed."""

import pytest

from hybridmsg.drivers import envelope


def test_request_round_trip():
    body = envelope.encode_request("id1", {"user": "u"}, {"method": "m", "args": {}}, 12.5, 30)
    assert envelope.decode_request(body) == envelope.Request(
        "id1", {"user": "u"}, {"method": "m", "args": {}}, 12.5, 30
    )


def test_cast_request_has_no_deadline():
    req = envelope.decode_request(envelope.encode_request("id", {}, {"method": "m"}))
    assert req.deadline is None and req.call_monitor_timeout is None


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        (envelope.encode_reply("i", result=[1, 2]), envelope.Reply("i", [1, 2])),
        (envelope.encode_reply("i", result=None), envelope.Reply("i", None)),
        (envelope.encode_reply("i", failure="{}"), envelope.Reply("i", None, "{}")),
        (envelope.encode_heartbeat("i"), envelope.Reply("i", heartbeat=True)),
    ],
)
def test_replies(body, reply):
    assert envelope.decode_reply(body) == reply


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'{"v": 99, "id": "x", "ctxt": {}, "msg": {}}',
        b'{"v": 1, "ctxt": {}, "msg": {}}',
        b'{"v": 1, "id": "x", "ctxt": [], "msg": {}}',
        b'{"v": 1, "id": "x", "ctxt": {}, "msg": {}, "deadline": "soon"}',
    ],
)
def test_malformed_requests_are_rejected(body):
    with pytest.raises(envelope.MalformedMessage):
        envelope.decode_request(body)


def test_malformed_reply_failure():
    with pytest.raises(envelope.MalformedMessage):
        envelope.decode_reply(b'{"v": 1, "id": "x", "failure": 3}')


def test_only_calls_want_a_reply():
    call = envelope.decode_request(envelope.encode_request("i", {}, {}, 1.0, wants_reply=True))
    cast = envelope.decode_request(envelope.encode_request("i", {}, {}))
    assert call.wants_reply and not cast.wants_reply
