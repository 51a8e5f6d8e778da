"""The ledger behind rabbit-once://: which deliveries of a notification are copies."""

from hybridmsg.drivers.rabbit_once import Ledger


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
