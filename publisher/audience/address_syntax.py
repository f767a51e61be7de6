"""email_validator's verdict on an address, without checking the same domain again for every row.

``validate_email`` (syntax only) spends most of its time on the part after
the @-sign: the UTS-46 mapping and IDNA checks of the domain. An import of a
million rows has a million local parts but a few domains, so the common shape
of address (an ASCII part before the first @-sign, no quotes, no display name,
no IP literal) is checked here with the library's own steps, in its order,
with the domain's result remembered. Every other address, and every address
a step refuses, goes to ``validate_email`` itself: a refusal always carries
the library's own message, and an accepted address has the library's
normalised form (tests/test_address_syntax.py compares the two).
"""

from __future__ import annotations

import functools
import unicodedata

from email_validator import ValidatedEmail, validate_email
from email_validator.exceptions import EmailNotValidError
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from email_validator.syntax import DomainNameValidationResult, validate_email_domain_name, validate_email_length, validate_email_local_part

#: Domains whose result is kept; a file of as many different domains only loses the saving.
DOMAIN_CACHE = 4096


def normalized_address(address: str) -> str:
    """``validate_email(address, check_deliverability=False).normalized``: the same result, or the same error."""
    try:
        plain = _plain(address)
    except EmailNotValidError:
        plain = None
    if plain is None:
        return validate_email(address, check_deliverability=False).normalized
    return plain


def _plain(address: str) -> str | None:
    """The normalised form of a plain address, None when it is not plain; EmailNotValidError when a step refuses it."""
    local, at, domain = address.partition("@")
    # A quote or ``<`` before the @-sign makes the library read a quoted local
    # part or a display name, a ``[`` after it an IP literal.
    if not at or not local.isascii() or '"' in local or "<" in local or domain.startswith("["):
        return None
    # The library splits at an @-sign that no following character combines with.
    if not domain.isascii() and unicodedata.normalize("NFC", address[len(local) : len(local) + 32])[0] != "@":
        return None
    checked = ValidatedEmail()
    checked.original = address
    checked.display_name = None
    # An ASCII local part is its own NFC form, so it is checked once.
    local_part = validate_email_local_part(local, allow_smtputf8=True, allow_empty_local=False, quoted_local_part=False, strict=False)
    checked.smtputf8 = local_part["smtputf8"]
    checked.local_part = local_part["local_part"]
    checked.ascii_local_part = local_part["ascii_local_part"]
    if checked.ascii_local_part is not None and checked.ascii_local_part.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        checked.ascii_local_part = checked.ascii_local_part.lower()
        checked.local_part = checked.local_part.lower()
    if not domain:
        return None
    domain_name = _domain_name(domain)
    checked.domain = domain_name["domain"]
    checked.ascii_domain = domain_name["ascii_domain"]
    checked.normalized = checked.local_part + "@" + checked.domain
    ascii_local = checked.ascii_local_part
    checked.ascii_email = f"{ascii_local}@{checked.ascii_domain}" if ascii_local and checked.ascii_domain else None
    validate_email_length(checked)
    return checked.normalized


@functools.lru_cache(maxsize=DOMAIN_CACHE)
def _domain_name(domain: str) -> DomainNameValidationResult:
    # Only results are kept: a refused domain raises again each time, through the library.
    return validate_email_domain_name(domain, test_environment=False, globally_deliverable=True)
