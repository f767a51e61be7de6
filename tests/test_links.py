"""Signed public links: one salt per purpose, tamper-evident, and still valid after a key rotation."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from publisher.core.links import CONFIRM, PREFERENCES, UNSUBSCRIBE, VIEW, LinkSigner, LinkTarget, signer_for
from publisher.core.settings import Settings

TARGET = LinkTarget(subscriber_id=7, list_id=2, campaign_id=31)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_links_are_built_from_the_public_url_and_round_trip() -> None:
    signer = LinkSigner("key-now", "https://news.example/")
    for purpose in (UNSUBSCRIBE, PREFERENCES, VIEW, CONFIRM):
        url = signer.url(purpose, TARGET)
        assert url.startswith(f"https://news.example/{purpose}/")
        assert signer.verify(purpose, token_of(url)) == TARGET


def test_a_token_of_one_purpose_does_not_verify_as_another() -> None:
    signer = LinkSigner("key-now", "https://news.example")
    view = signer.token(VIEW, TARGET)
    with pytest.raises(BadSignature):
        signer.verify(UNSUBSCRIBE, view)


def test_altered_or_foreign_tokens_are_refused() -> None:
    signer = LinkSigner("key-now", "https://news.example")
    token = signer.token(UNSUBSCRIBE, TARGET)
    payload, signature = token.rsplit(".", 1)
    with pytest.raises(BadSignature):
        signer.verify(UNSUBSCRIBE, f"{payload}x.{signature}")
    with pytest.raises(BadSignature):
        LinkSigner("another-deployment", "https://news.example").verify(UNSUBSCRIBE, token)
    with pytest.raises(BadSignature):
        signer.verify(UNSUBSCRIBE, "not-a-token")


def test_a_correctly_signed_token_with_an_unexpected_payload_is_refused() -> None:
    # Signed with the right key and salt, but not three ids: refused, not a crash later on.
    serializer = URLSafeSerializer("key-now", salt=f"newsletter.{UNSUBSCRIBE}")
    signer = LinkSigner("key-now", "https://news.example")
    for payload in ([1, 2], ["1", 2, 3], [True, 2, 3], [-1, 2, 3], {"subscriber": 1}):
        with pytest.raises(BadSignature):
            signer.verify(UNSUBSCRIBE, serializer.dumps(payload))


def test_links_signed_before_a_key_rotation_still_verify() -> None:
    before = LinkSigner("key-2025-retired-last-year", "https://news.example")
    old_token = before.token(UNSUBSCRIBE, TARGET)
    settings = Settings(
        secret_key="key-2026-signs-new-links",
        old_secret_keys="key-2024-retired-long-ago, key-2025-retired-last-year",
        public_url="https://news.example",
    )
    after = signer_for(settings)
    assert after.verify(UNSUBSCRIBE, old_token) == TARGET
    # New links are signed with the new key only: the old deployment cannot read them.
    with pytest.raises(BadSignature):
        before.verify(UNSUBSCRIBE, after.token(UNSUBSCRIBE, TARGET))
    # Without the old key listed, the old link stops working.
    with pytest.raises(BadSignature):
        signer_for(Settings(secret_key="key-2026-signs-new-links", public_url="https://news.example")).verify(UNSUBSCRIBE, old_token)


def signed_days_ago(signer: LinkSigner, purpose: str, days: float) -> str:
    """A token as the signer would have made it ``days`` ago."""
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(days=days)):
        return signer.token(purpose, TARGET)


@pytest.mark.timing
def test_confirm_links_expire_and_links_to_leave_never_do() -> None:
    signer = signer_for(Settings(secret_key="key-2026-signs-new-links", public_url="https://news.example", confirm_link_days=7))
    assert signer.verify(CONFIRM, signed_days_ago(signer, CONFIRM, 6.9)) == TARGET
    with pytest.raises(SignatureExpired):
        signer.verify(CONFIRM, signed_days_ago(signer, CONFIRM, 7.1))
    for purpose in (UNSUBSCRIBE, PREFERENCES, VIEW):
        assert signer.verify(purpose, signed_days_ago(signer, purpose, 3650)) == TARGET


def test_a_confirm_link_signed_without_a_time_counts_as_expired_and_a_forged_one_as_invalid() -> None:
    signer = LinkSigner("key-now", "https://news.example", confirm_max_age=7 * 86_400)
    untimed = URLSafeSerializer("key-now", salt=f"newsletter.{CONFIRM}").dumps([7, 2, 31])
    with pytest.raises(SignatureExpired):
        signer.verify(CONFIRM, untimed)
    forged = URLSafeSerializer("not-our-key", salt=f"newsletter.{CONFIRM}").dumps([7, 2, 31])
    with pytest.raises(BadSignature) as refused:
        signer.verify(CONFIRM, forged)
    assert not isinstance(refused.value, SignatureExpired)


def test_tokens_issued_by_itsdangerous_before_still_verify_compressed_or_not() -> None:
    # Issued by URLSafeSerializer as links were signed before their signers
    # were kept per purpose: ids of repeated digits came out zlib-compressed
    # (the leading "."), the others plain.
    signer = LinkSigner("key-now", "https://news.example")
    issued = {
        "WzcsMiwzMV0.iZ9RvKbtLmgf1UyH3MBxoQn4njI": LinkTarget(7, 2, 31),
        ".eJyLNjKAAR2szFgAdY0Gtw.sM-OdSnrt1sMzh4KxboOQsQAwIw": LinkTarget(2_000_000_000, 2_000_000_000, 2_000_000_000),
    }
    for token, target in issued.items():
        assert signer.verify(UNSUBSCRIBE, token) == target
        assert URLSafeSerializer("key-now", salt=f"newsletter.{UNSUBSCRIBE}").loads(token) == [
            target.subscriber_id,
            target.list_id,
            target.campaign_id,
        ]


def test_new_tokens_read_with_plain_itsdangerous_and_match_its_uncompressed_form() -> None:
    # A deployment rolled back to signing with URLSafeSerializer itself still reads every link sent meanwhile.
    signer = LinkSigner("key-now", "https://news.example", ["key-before"])
    for target in (TARGET, LinkTarget(None, 2, None), LinkTarget(2_000_000_000, 2_000_000_000, 2_000_000_000)):
        payload = [target.subscriber_id, target.list_id, target.campaign_id]
        for purpose in (UNSUBSCRIBE, PREFERENCES, VIEW):
            token = signer.token(purpose, target)
            assert not token.startswith(".")
            assert URLSafeSerializer(["key-before", "key-now"], salt=f"newsletter.{purpose}").loads(token) == payload
        confirm = signer.token(CONFIRM, target)
        assert URLSafeTimedSerializer("key-now", salt=f"newsletter.{CONFIRM}").loads(confirm, max_age=60) == payload
    assert signer.token(UNSUBSCRIBE, TARGET) == URLSafeSerializer("key-now", salt=f"newsletter.{UNSUBSCRIBE}").dumps(
        [TARGET.subscriber_id, TARGET.list_id, TARGET.campaign_id]
    )


def test_links_without_a_time_are_byte_for_byte_what_itsdangerous_signs() -> None:
    # Written in one pass with the derived key, not through itsdangerous: the same token, with the newest key.
    signer = LinkSigner("key-now", "https://news.example", ["key-before"])
    for target in (TARGET, LinkTarget(None, 2, None), LinkTarget(123_456_789, 98_765, 4_321), LinkTarget(None, None, None)):
        payload = [target.subscriber_id, target.list_id, target.campaign_id]
        for purpose in (UNSUBSCRIBE, PREFERENCES, VIEW):
            expected = URLSafeSerializer(["key-before", "key-now"], salt=f"newsletter.{purpose}").dumps(payload)
            assert signer.token(purpose, target) == expected
            assert signer.verify(purpose, expected) == target


def test_a_signer_verifies_with_each_of_its_keys_after_signing_many_links() -> None:
    # Keys are derived once and kept per secret: the kept key of the newest must never stand in for a retired one.
    old = LinkSigner("key-before", "https://news.example")
    signer = LinkSigner("key-now", "https://news.example", ["key-before"])
    tokens = [signer.token(VIEW, LinkTarget(n, 1, 1)) for n in range(1, 50)]
    assert [signer.verify(VIEW, token).subscriber_id for token in tokens] == list(range(1, 50))
    assert signer.verify(VIEW, old.token(VIEW, TARGET)) == TARGET
    with pytest.raises(BadSignature):
        old.verify(VIEW, tokens[0])
