"""rabbit-once:// without a server: which deliveries are copies; a resent message keeps
its unique id."""

from hybridmsg.drivers.rabbit_once import Ledger, _KeepsUniqueId
from hybridmsg.drivers.shim import UNIQUE_ID


def test_a_copy_of_one_in_hand_or_handled_is_refused():
    ledger = Ledger()
    assert ledger.admit("a")
    assert not ledger.admit("a")  # both copies read before the first is handled
    ledger.handled("a")
    assert not ledger.admit("a")  # redelivered after a crash lost the acknowledgement
    assert ledger.admit(None)  # no id (not sent by oslo): never a copy
    assert ledger.admit(None)


def test_a_requeued_notification_comes_back_as_itself():
    ledger = Ledger()
    assert ledger.admit("a")
    ledger.given_back("a")
    assert ledger.admit("a")


def test_only_the_latest_handled_are_remembered():
    ledger = Ledger(size=2)
    for unique_id in "abc":
        assert ledger.admit(unique_id)
        ledger.handled(unique_id)
    assert ledger.admit("a")
    assert not ledger.admit("b") and not ledger.admit("c")


def test_a_message_sent_again_keeps_its_unique_id():
    message = _KeepsUniqueId({"payload": 1})
    message.update({UNIQUE_ID: "first"})  # oslo's first attempt
    message.update({UNIQUE_ID: "second", "_context_user": "u"})  # oslo's next attempt
    assert message[UNIQUE_ID] == "first" and message["_context_user"] == "u"
