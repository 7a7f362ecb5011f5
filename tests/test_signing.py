"""One signer and verifier for `t=<unix>,v1=<hex>` headers, shared by the outbound webhooks and the Stripe
webhook: HMAC-SHA256 over "<t>.<body>", constant-time comparison, 300 s either way, any of several v1."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from marketplace.core import signing

BODY = b'{"id":"evt_1"}'
T = 1_800_000_000


def test_sign_is_the_documented_hmac():
    expected = hmac.new(b"whsec_x", f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.sign("whsec_x", BODY, T) == f"t={T},v1={expected}"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_within_the_tolerance_either_way(offset):
    assert signing.verify("whsec_x", BODY, signing.sign("whsec_x", BODY, T), now=T + offset)


@pytest.mark.parametrize(
    ("header", "now", "refusal"),
    [
        (None, T, signing.Refusal.UNREADABLE),
        ("", T, signing.Refusal.UNREADABLE),
        ("t=abc,v1=00", T, signing.Refusal.UNREADABLE),
        (f"t={T}", T, signing.Refusal.UNREADABLE),
        (f"t={T},v1=", T, signing.Refusal.UNREADABLE),
        ("SIGNED", T + 301, signing.Refusal.STALE),
        ("SIGNED", T - 301, signing.Refusal.STALE),
        (f"t={T},v1={'0' * 64}", T, signing.Refusal.MISMATCH),
        (f"t={T},v1=ä", T, signing.Refusal.MISMATCH),  # not ASCII: a mismatch, not a TypeError
    ],
)
def test_refusals_say_why(header, now, refusal):
    if header == "SIGNED":
        header = signing.sign("whsec_x", BODY, T)
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.check("whsec_x", BODY, header, now=now)
    assert refused.value.refusal is refusal
    assert not signing.verify("whsec_x", BODY, header, now=now)


def test_one_of_several_v1_values_may_match_and_all_are_compared_in_constant_time(monkeypatch):
    calls = []
    original = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = signing.sign("whsec_x", BODY, T).split(",")[1]
    assert signing.verify("whsec_x", BODY, f"t={T},{good}, v1={'0' * 64}", now=T)
    assert len(calls) == 2
    assert not signing.verify("whsec_other", BODY, f"t={T},{good}", now=T)
    assert not signing.verify("whsec_x", BODY + b" ", f"t={T},{good}", now=T)


def test_both_webhook_directions_use_it():
    from marketplace.payments import events as stripe
    from marketplace.webhooks import delivery

    header = signing.sign("whsec_x", BODY, T)
    assert delivery.sign("whsec_x", BODY, T) == header
    assert delivery.verify_signature("whsec_x", BODY, header, now=T)
    stripe.verify_signature(BODY, header, "whsec_x", now=T)  # raises if refused
    with pytest.raises(stripe.WebhookRejected, match="zu alt"):
        stripe.verify_signature(BODY, header, "whsec_x", now=T + 301)
