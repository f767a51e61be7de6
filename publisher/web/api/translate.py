"""The domain's errors as the API's problems: what was wrong, with the status a client acts on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from publisher.accounts.roles import AccountError
from publisher.audience.lists import ListNameError
from publisher.core.errors import ConfigurationError, ContentError, ImportFileError, NewsletterError, NotFoundError
from publisher.ledger.control import ControlError
from publisher.ledger.drafts import DraftConflict, LintRefused
from publisher.ledger.idempotency import IdempotencyConflict
from publisher.ledger.resend import ResendRefused
from publisher.ledger.subject_test_decision import DecisionConflict
from publisher.web.api.problems import LINT_ERRORS, ApiProblem


@contextmanager
def translated(not_found: int = 404) -> Iterator[None]:
    """Turn the domain's errors into problems; ``not_found`` is the status of a NotFoundError (422 when it names a field)."""
    try:
        yield
    except ContentError as exc:
        raise ApiProblem(422, str(exc), errors=exc.problems) from exc
    except LintRefused as exc:
        raise ApiProblem(409, str(exc), type_=LINT_ERRORS, extra={"findings": exc.findings}) from exc
    except (DraftConflict, ControlError, IdempotencyConflict, DecisionConflict, ResendRefused) as exc:
        raise ApiProblem(409, str(exc)) from exc
    except NotFoundError as exc:
        raise ApiProblem(not_found, str(exc)) from exc
    except (ListNameError, ImportFileError, AccountError) as exc:
        raise ApiProblem(422, str(exc)) from exc
    except ConfigurationError as exc:
        raise ApiProblem(422, str(exc), errors=[("provider", str(exc))]) from exc
    except NewsletterError as exc:
        raise ApiProblem(422, str(exc)) from exc
