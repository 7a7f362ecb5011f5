"""A Stripe client written with `requests` alone; the application never imports the `stripe` package.

Every call goes through `StripeClient._request`: a connect/read timeout, Bearer authentication, a pinned
``Stripe-Version``, Stripe's bracket form encoding, an ``Idempotency-Key`` on every POST (the caller's
stored key, or one made before the first try) that is reused on every retry, and retries with exponential
backoff and jitter on connection errors, timeouts, 409, 5xx and whenever Stripe answers
``Stripe-Should-Retry: true`` (``false`` forbids a retry). Errors become typed exceptions built from
Stripe's error object.

API version. Stripe's version 2026-09-30 (endive) rejects ``payment_method_types`` on creating
PaymentIntents and SetupIntents (``payment_method_types_no_longer_supported``). We pin that version and
never send the parameter: the PaymentIntent names its SEPA Direct Debit payment method explicitly and
restricts the types with ``allowed_payment_method_types[]=sepa_debit`` (added in 2026-07-29), so neither
dynamic payment methods nor a future upgrade can turn a debit into something else, and nothing breaks
when the old parameter disappears from older versions too.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)

STRIPE_VERSION = "2026-09-30.endive"
DEFAULT_TIMEOUT = (5.0, 30.0)  # connect, read (seconds)


class StripeError(Exception):
    """An error answer from Stripe (or no answer at all); `should_retry` says whether it was retryable."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.error_type = error_type
        self.param = param
        self.request_id = request_id
        self.decline_code = decline_code

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"code={self.code}")
        if self.status:
            parts.append(f"status={self.status}")
        return " ".join(parts)


class APIConnectionError(StripeError):
    """No usable answer: connection refused or reset, timeout (after all retries)."""


class APIError(StripeError):
    """Stripe's own failure (``api_error``, 5xx)."""


class CardError(StripeError):
    """The payment method was declined (``card_error``, 402; SEPA debits too)."""


class InvalidRequestError(StripeError):
    """The request was malformed or refers to something missing (``invalid_request_error``, 400/404)."""


class AuthenticationError(StripeError):
    """The API key is wrong (401)."""


class PermissionDeniedError(StripeError):
    """The key may not do this (403)."""


class RateLimitError(StripeError):
    """Too many requests (429)."""


class IdempotencyError(StripeError):
    """The Idempotency-Key was used with different parameters, or is still in flight (``idempotency_error``)."""


_BY_TYPE: dict[str, type[StripeError]] = {
    "api_error": APIError,
    "card_error": CardError,
    "invalid_request_error": InvalidRequestError,
    "idempotency_error": IdempotencyError,
}
_BY_STATUS: dict[int, type[StripeError]] = {
    401: AuthenticationError,
    402: CardError,
    403: PermissionDeniedError,
    404: InvalidRequestError,
    429: RateLimitError,
}


def encode(params: Mapping[str, Any], prefix: str | None = None) -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b][c]``, lists as ``a[0]``, booleans as ``true``/``false``,
    None left out, datetimes as Unix seconds."""
    return list(_encode(params, prefix))


def _encode(params: Mapping[str, Any], prefix: str | None) -> Iterator[tuple[str, str]]:
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        yield from _encode_value(name, value)


def _encode_value(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        yield from _encode(value, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _encode_value(f"{name}[{index}]", item)
    elif isinstance(value, bool):
        yield name, "true" if value else "false"
    elif isinstance(value, datetime):
        yield name, str(int(value.timestamp()))
    else:
        yield name, str(value)


def _error_from(response: requests.Response) -> StripeError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    error_type = error.get("type")
    # Stripe calls a wrong key or a rate limit an "invalid_request_error" too: the status decides those
    cls = (
        (_BY_STATUS.get(response.status_code) if response.status_code in (401, 403, 429) else None)
        or _BY_TYPE.get(error_type or "")
        or _BY_STATUS.get(response.status_code)
    )
    if cls is None:
        cls = APIError if response.status_code >= 500 else InvalidRequestError
    return cls(
        error.get("message") or f"Stripe antwortete mit HTTP {response.status_code}.",
        status=response.status_code,
        code=error.get("code"),
        error_type=error_type,
        param=error.get("param"),
        request_id=response.headers.get("Request-Id"),
        decline_code=error.get("decline_code"),
    )


def is_missing(error: StripeError) -> bool:
    """Whether Stripe refused a request because an object it names does not exist (``resource_missing``,
    e.g. "No such customer"; localstripe answers a plain 404)."""
    return isinstance(error, InvalidRequestError) and (error.code == "resource_missing" or error.status == 404)


def _should_retry(response: requests.Response) -> bool:
    header = response.headers.get("Stripe-Should-Retry")
    if header == "true":
        return True
    if header == "false":
        return False
    return response.status_code == 409 or response.status_code >= 500


class StripeClient:
    """Calls a Stripe-compatible API at `api_base` with `api_key`."""

    def __init__(
        self,
        api_key: str,
        api_base: str = "https://api.stripe.com",
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        backoff_base: float = 0.5,  # float: seconds, not money
        backoff_max: float = 8.0,  # float: seconds, not money
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise AuthenticationError("Es ist kein Stripe-API-Schlüssel konfiguriert (STRIPE_API_KEY).")
        self._api_key = api_key
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.session = session or requests.Session()
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the key
        return f"<StripeClient {self.api_base}>"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StripeClient:
        """From the app's settings: STRIPE_API_KEY, STRIPE_API_BASE and, optionally, STRIPE_CONNECT_TIMEOUT,
        STRIPE_READ_TIMEOUT, STRIPE_MAX_RETRIES and STRIPE_BACKOFF_BASE (seconds)."""
        return cls(
            config.get("STRIPE_API_KEY") or "",
            config.get("STRIPE_API_BASE") or "https://api.stripe.com",
            timeout=(
                float(config.get("STRIPE_CONNECT_TIMEOUT") or DEFAULT_TIMEOUT[0]),  # float: seconds
                float(config.get("STRIPE_READ_TIMEOUT") or DEFAULT_TIMEOUT[1]),  # float: seconds
            ),
            max_retries=int(config.get("STRIPE_MAX_RETRIES") if config.get("STRIPE_MAX_RETRIES") is not None else 3),
            backoff_base=float(config.get("STRIPE_BACKOFF_BASE") or 0.5),  # float: seconds
        )

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: base · 2^attempt, capped, then scaled by a random 50–100 %."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One API call with retries; returns the decoded JSON object or raises a StripeError subclass.

        A POST always carries an Idempotency-Key: the caller's (stored before calling, so that a later
        retry after a crash uses it too) or one made here before the first try. Every retry reuses it.
        """
        method = method.upper()
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Stripe-Version": STRIPE_VERSION,
            "Accept": "application/json",
            "User-Agent": "leistungsboerse/1.0 (+requests)",
        }
        encoded = encode(params or {})
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        url = f"{self.api_base}{path}"
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=encoded if method != "POST" else None,
                    data=encoded if method == "POST" else None,
                    headers=headers,
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                kind = "Zeitüberschreitung" if isinstance(exc, requests.Timeout) else "Verbindungsfehler"
                log.warning("stripe %s %s: %s (attempt %d)", method, path, kind, attempt + 1)
                if attempt < self.max_retries:
                    self._sleep(self._delay(attempt))
                    attempt += 1
                    continue
                raise APIConnectionError(
                    f"Stripe ist nicht erreichbar ({kind}, {attempt + 1} Versuche).", error_type="connection_error"
                ) from None
            log.info("stripe %s %s -> %d (attempt %d)", method, path, response.status_code, attempt + 1)
            if 200 <= response.status_code < 300:
                return response.json()
            if attempt < self.max_retries and _should_retry(response):
                self._sleep(self._delay(attempt))
                attempt += 1
                continue
            raise _error_from(response)

    # --- resources -------------------------------------------------------------------------------------

    def create_customer(self, *, name: str, email: str, member_id: int, idempotency_key: str) -> dict[str, Any]:
        params = {"name": name, "email": email or None, "metadata": {"member_id": member_id}}
        return self._request("POST", "/v1/customers", params, idempotency_key=idempotency_key)

    def retrieve_customer(self, customer_id: str) -> dict[str, Any]:
        """The customer; Stripe answers a deleted one with ``{"id": …, "deleted": true}``."""
        return self._request("GET", f"/v1/customers/{quote(customer_id, safe='')}")

    def update_customer(
        self, customer_id: str, *, name: str, email: str, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        params = {"name": name, "email": email or None}
        path = f"/v1/customers/{quote(customer_id, safe='')}"
        return self._request("POST", path, params, idempotency_key=idempotency_key)

    def customer_is_gone(self, customer_id: str) -> bool:
        """Whether Stripe no longer knows this customer (deleted, or never heard of: 404 "No such customer").

        Raises StripeError when that cannot be told (no answer, a wrong key …)."""
        try:
            customer = self.retrieve_customer(customer_id)
        except InvalidRequestError as error:
            if is_missing(error):
                return True
            raise
        return bool(customer.get("deleted"))

    def create_sepa_payment_method(self, *, iban: str, name: str, email: str, idempotency_key: str) -> dict[str, Any]:
        params = {
            "type": "sepa_debit",
            "sepa_debit": {"iban": iban},
            "billing_details": {"name": name, "email": email or None},
        }
        return self._request("POST", "/v1/payment_methods", params, idempotency_key=idempotency_key)

    def attach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str
    ) -> dict[str, Any]:
        path = f"/v1/payment_methods/{quote(payment_method_id, safe='')}/attach"
        return self._request("POST", path, {"customer": customer_id}, idempotency_key=idempotency_key)

    @staticmethod
    def payment_intent_params(
        *,
        amount_cents: int,
        customer_id: str,
        payment_method_id: str,
        description: str,
        metadata: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The parameters of a confirmed SEPA Direct Debit PaymentIntent (see the module's note on versions).

        The mandate is the paper SEPA B2B mandate each member signs with the cooperative: an offline
        customer acceptance."""
        return {
            "amount": amount_cents,
            "currency": "eur",
            "customer": customer_id,
            "payment_method": payment_method_id,
            "allowed_payment_method_types": ["sepa_debit"],
            "confirm": True,
            "mandate_data": {"customer_acceptance": {"type": "offline"}},
            "description": description,
            "metadata": dict(metadata),
        }

    def create_payment_intent(self, params: Mapping[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        return self._request("POST", "/v1/payment_intents", params, idempotency_key=idempotency_key)

    def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/payment_intents/{quote(payment_intent_id, safe='')}")
