# -*- coding: utf-8 -*-
# Copyright: contributors to the manufacturing.platform collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one retry policy for AWS API calls (throttling and server faults).

Every AWS call of the collection's modules goes through two layers, chosen once here:

* botocore's own retries inside the client: ``standard`` mode, ``BOTOCORE_TOTAL_ATTEMPTS`` attempts in all (the
  first call included). Set explicitly on every client this module creates, so the play-wide ``AWS_MAX_ATTEMPTS``
  / ``AWS_RETRY_MODE`` (meant for the stock amazon.aws / community.aws modules) do not multiply with the outer
  layer. This layer also covers connection errors, which the outer one does not see.
* ``PlatformRetry.jittered_backoff`` (AWSRetry with a wider error list) around each call made with
  ``aws_retry=True``: ``RETRIES`` attempts, full-jitter exponential backoff from ``DELAY`` s up to ``MAX_DELAY`` s.

Worst case per call: ``BOTOCORE_TOTAL_ATTEMPTS * RETRIES`` requests. With 25 % of requests faulted a call fails
only if all of them fail (0.25 ** 30, about 1e-18); under a sustained throttle a call gives up after about one
minute of waiting (mean jittered sleeps 0.5 + 1 + 2 + 4 + 8 + 4 * 10 s).

What is retried: the throttling codes of every service the collection uses (botocore's standard-mode list plus
AWSRetry's) and server faults (HTTP 500/502/503/504, whatever code the body carries). Nothing else: a 4xx
validation or not-found error is raised at the first attempt, unless a module passes that code explicitly in
``extra_codes`` (eventual consistency of a just-created resource, for example).

Paginated reads: ``paginate()`` / ``paginate_pages()`` retry each page request on its own, so a fault on page 5
neither fails the read nor restarts it from page 1. Hand-written token loops call the wrapped client's method
with ``aws_retry=True`` for every page.
"""

from __future__ import annotations

try:
    import botocore.config
    import botocore.exceptions
except ImportError:
    pass  # caught by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

RETRIES = 10
DELAY = 1
BACKOFF = 2.0
MAX_DELAY = 20
BOTOCORE_TOTAL_ATTEMPTS = 3
BOTOCORE_RETRY_MODE = "standard"

# Throttling error codes of the AWS services the collection calls (EC2, S3, RDS, Lambda, API Gateway, SNS, logs,
# CloudWatch, MSK, Secrets Manager, Budgets, Cost Explorer, Service Quotas, KMS, STS). AWSRetry.found already
# matches RequestLimitExceeded, Throttling, TooManyRequestsException; the rest are botocore's standard-mode
# throttling list. LimitExceededException is not here: besides API Gateway's throttle (HTTP 429, matched by its
# status below) it is a hard quota in Lambda, KMS, CloudWatch Logs and others, which retrying cannot fix.
THROTTLING_CODES = (
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
)
# Server-side faults reported with a code (the HTTP status below catches the rest).
SERVER_FAULT_CODES = (
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerErrorException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
)
RETRY_STATUS = (429, 500, 502, 503, 504)
RETRY_CODES = THROTTLING_CODES + SERVER_FAULT_CODES


class _Fault(str):
    """An error code (a str, so AWSRetry-style ``code in list`` tests keep working) plus the HTTP status."""

    http_status = None


class PlatformRetry(AWSRetry):
    """AWSRetry that also matches every service's throttling codes and any 5xx/429 HTTP status."""

    @staticmethod
    def status_code_from_exception(error):
        response = getattr(error, "response", None) or {}
        fault = _Fault(response.get("Error", {}).get("Code", ""))
        fault.http_status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return fault

    @staticmethod
    def found(response_code, catch_extra_error_codes=None):
        if response_code in RETRY_CODES:
            return True
        if getattr(response_code, "http_status", None) in RETRY_STATUS:
            return True
        return bool(catch_extra_error_codes) and response_code in catch_extra_error_codes


def is_retryable(error, extra_codes=None):
    """True when ``error`` (a botocore ClientError) is one the collection's retry policy retries."""
    if not isinstance(error, botocore.exceptions.ClientError):
        return False
    return PlatformRetry.found(PlatformRetry.status_code_from_exception(error), extra_codes)


def retry_decorator(extra_codes=None, retries=RETRIES, delay=DELAY, max_delay=MAX_DELAY):
    """The collection's retry decorator: for ``module.client(..., retry_decorator=...)`` or to wrap a function.

    ``extra_codes``: further error codes this caller knows to be transient (eventual consistency and the like).
    ``retries`` is the number of attempts in all (AWSRetry's meaning); 1 turns the outer layer off.
    """
    return PlatformRetry.jittered_backoff(
        retries=retries, delay=delay, backoff=BACKOFF, max_delay=max_delay,
        catch_extra_error_codes=list(extra_codes) if extra_codes else None,
    )


def botocore_config(total_attempts=BOTOCORE_TOTAL_ATTEMPTS, mode=BOTOCORE_RETRY_MODE):
    """The botocore Config of the collection's clients (inner retry layer, explicit so the environment cannot
    change it)."""
    return botocore.config.Config(retries={"mode": mode, "total_max_attempts": total_attempts})


def client(module, service, extra_codes=None, retries=RETRIES, botocore_attempts=BOTOCORE_TOTAL_ATTEMPTS,
           **extra_params):
    """``module.client(service)`` with the collection's two retry layers; call its methods with ``aws_retry=True``.

    A ``config`` in ``extra_params`` is merged over the retry config (its own settings win).
    """
    config = botocore_config(botocore_attempts)
    own = extra_params.pop("config", None)
    if own is not None:
        config = config.merge(own)
    return module.client(
        service, retry_decorator=retry_decorator(extra_codes, retries=retries), config=config, **extra_params)


def _retry_of(client_or_wrapper, decorator):
    if decorator is not None:
        return decorator
    wrapper_retry = getattr(client_or_wrapper, "retry", None)
    return wrapper_retry if callable(wrapper_retry) else retry_decorator()


def retrying_paginator(client, operation, decorator=None):
    """``client.get_paginator(operation)`` whose page requests are each retried with the collection's policy.

    ``client`` is a plain boto3 client or the RetryingBotoClientWrapper ``client()`` returns (its decorator is then
    used unless ``decorator`` is given). botocore's PageIterator calls ``paginator._method`` for every page and keeps
    the token of the page it asks for, so wrapping that method retries one page at a time.
    """
    paginator = client.get_paginator(operation)
    paginator._method = _retry_of(client, decorator)(paginator._method)
    return paginator


def paginate_pages(client, operation, decorator=None, **params):
    """Iterate over the pages of a paginated ``operation``, each page request retried on its own."""
    return retrying_paginator(client, operation, decorator).paginate(**params)


def paginate(client, operation, decorator=None, **params):
    """The full result of a paginated ``operation`` (``build_full_result()``), each page request retried."""
    return retrying_paginator(client, operation, decorator).paginate(**params).build_full_result()


def retrying_waiter(client, name, decorator=None):
    """``client.get_waiter(name)`` whose polls are each retried on throttling and server faults.

    A botocore waiter stops at the first error its acceptors do not expect (a throttled poll included). Each poll
    goes through ``waiter._operation_method._client_method``; wrapping it with the collection's decorator (not the
    module's, whose extra codes such as ``*.NotFound`` are answers the waiter's acceptors must see) retries a
    faulted poll without ending the wait.
    """
    waiter = client.get_waiter(name)
    operation = waiter._operation_method
    operation._client_method = (decorator or retry_decorator())(operation._client_method)
    return waiter


def call_while_propagating(method, code, message_fragment, attempts=8, delay=DELAY * 2, max_delay=15, sleep=None,
                           **kwargs):
    """``method(aws_retry=True, **kwargs)``, retried while AWS answers ``code`` with ``message_fragment``.

    For eventual consistency that a service reports with a generic validation code: RDS refuses a just-created
    Enhanced Monitoring role with ``InvalidParameterValue`` ("... permissions for: ENHANCED_MONITORING") until IAM
    has propagated it. Any other error, the same code with another message included, is raised at once; the waits
    are full-jitter exponential (``delay`` * 2 ** n, at most ``max_delay``), about a minute in all by default.
    """
    import random
    import time

    sleep = sleep or time.sleep
    for attempt in range(attempts):
        try:
            return method(aws_retry=True, **kwargs)
        except botocore.exceptions.ClientError as error:
            err = error.response.get("Error", {})
            transient = err.get("Code") == code and message_fragment.lower() in (err.get("Message") or "").lower()
            if not transient or attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(max_delay, delay * BACKOFF ** attempt)))  # noqa: S311 - jitter, not crypto
    return None
