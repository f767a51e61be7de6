"""The import's address check: email_validator's verdict and normalised form, for every input."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from publisher.audience.address_syntax import normalized_address

TRICKY = [
    "ada@example.com",
    "Ada.Lovelace@Example.COM",
    "ada@EXAMPLE.com.",
    "ada@example..com",
    "ada@.example.com",
    "ada@-example.com",
    "ada@example-.com",
    "ada@example",
    "ada@localhost",
    "ada@example.invalid",
    "ada@sub.example.local",
    "ada@[192.0.2.1]",
    "ada@[IPv6:2001:db8::1]",
    "ada@",
    "@example.com",
    "ada",
    "",
    "ada@@example.com",
    "ada@exa@mple.com",
    ".ada@example.com",
    "ada.@example.com",
    "a..da@example.com",
    "a da@example.com",
    "ada @example.com",
    "ada@ example.com",
    "ada@exam ple.com",
    "a+tag@example.com",
    "a!#$%&'*+/=?^_`{|}~-@example.com",
    "a(comment)@example.com",
    "a,b@example.com",
    "a\\b@example.com",
    '"ada"@example.com',
    '"a da"@example.com',
    '"a@da"@example.com',
    '"a\\"da"@example.com',
    '"ada@example.com',
    "Ada Lovelace <ada@example.com>",
    "<ada@example.com>",
    "ada@example.com>",
    "a<da@example.com",
    "ada<@example.com",
    "POSTMASTER@example.com",
    "Abuse@Example.com",
    "NoReply@example.com",
    "ada@bücher.example",
    "ada@BÜCHER.example",
    "ada@xn--bcher-kva.example",
    "ada@XN--BCHER-KVA.EXAMPLE",
    "ada@xn--bcher-xxx.example",
    "ada@xn--.example",
    "ada@例子.广告",
    "ada@例子。广告",
    "ada@example．com",
    "ada@ｅｘａｍｐｌｅ.com",
    "ada@exa\u200bmple.com",
    "ada@\u0301example.com",
    "ada@e\u0301xample.com",
    "ada@⒈example.com",
    "ada@ex_ample.com",
    "ada@example.c",
    "ada@example.123",
    "ada@123.example",
    "ada@example.com\x00",
    "ada\x00@example.com",
    "ada@exa\tmple.com",
    "josé@example.com",
    "José@Bücher.example",
    "jose\u0301@example.com",
    "用户@例子.广告",
    "ada＠example.com",
    "ada﹫example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "ada@" + "a" * 63 + ".com",
    "ada@" + "a" * 64 + ".com",
    "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".com",
    "a" * 60 + "@" + ".".join(["ü" * 40] * 3) + ".com",
    "ada@" + ".".join(["a" * 63] * 4) + ".com",
]

#: Characters that steer the library down its different paths, and ordinary ones.
ALPHABET = st.sampled_from([*'aZ09.-_+@"<> \\()[],;:!~\u0301\u200bäü例。．＠\t\x00', "Ü", "ß", "ǅ", "İ"])


def _verdict(check: object, address: str) -> tuple[str, str]:
    assert callable(check)
    try:
        return "valid", str(check(address))
    except EmailNotValidError as exc:
        return type(exc).__name__, str(exc)


def _library(address: str) -> str:
    return validate_email(address, check_deliverability=False).normalized


@pytest.mark.parametrize("address", TRICKY)
def test_an_address_gets_the_librarys_verdict_and_normalised_form(address: str) -> None:
    expected = _verdict(_library, address)
    # Twice: the second time the domain's remembered result is used.
    assert _verdict(normalized_address, address) == expected
    assert _verdict(normalized_address, address) == expected


def test_common_addresses_are_accepted_in_the_librarys_normalised_form() -> None:
    assert normalized_address("Ada@Example.COM") == "Ada@example.com"
    assert normalized_address("ada@xn--bcher-kva.example") == "ada@bücher.example"
    assert normalized_address("Postmaster@example.com") == "postmaster@example.com"


@given(
    local=st.text(ALPHABET, max_size=12) | st.sampled_from(["ada", "a.b", "POSTMASTER", ""]),
    domain=st.text(ALPHABET, max_size=12) | st.sampled_from(["example.com", "bücher.example", "xn--bcher-kva.example", "EXAMPLE.COM."]),
)
@example(local="ada", domain="example.com")
@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_address_gets_the_librarys_verdict_and_normalised_form(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert _verdict(normalized_address, address) == _verdict(_library, address)
