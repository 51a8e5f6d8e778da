"""Sending again on "no responders": to the queue group at once when a member was gone."""

import asyncio

from hybridmsg.drivers.nats.resend import Resender

GROUP = "p.v.any.e.t"
MEMBER = GROUP + "." + "0" * 32


def test_a_gone_member_is_forgotten_and_the_message_goes_to_the_group():
    async def main():
        published: list[tuple[str, str]] = []
        gone: list[tuple[str, str]] = []

        async def publish(subject, body, reply):
            published.append((subject, reply))

        resender = Resender("p.v.reply.me", publish, lambda g, m: gone.append((g, m)))
        loop = asyncio.get_running_loop()
        reply = resender.track(MEMBER, GROUP, b"call", loop.time() + 5, is_call=True)
        assert resender.consumed(reply, "503")
        while not published:
            await asyncio.sleep(0.001)
        assert gone == [(GROUP, MEMBER)]
        assert published == [(GROUP, reply)]
        # nobody in the group either: sent to the group again, no member to forget
        assert resender.consumed(reply, "503")
        while len(published) < 2:
            await asyncio.sleep(0.001)
        assert published[1] == (GROUP, reply) and len(gone) == 1
        assert not resender.consumed(reply, None)  # the reply: delivered, entry done
        assert len(resender) == 0

    asyncio.run(asyncio.wait_for(main(), 10))
