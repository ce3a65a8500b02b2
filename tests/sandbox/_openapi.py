"""Check real HTTP exchanges with the sandbox against Brevo's published OpenAPI documents.

The conformance tests send real requests (plain ``requests``, not ``etl.brevo.client``) to the
loopback sandbox, then hand each request/response pair to openapi-core's ``validate_response``.
Brevo's documents declare ``https://api.brevo.com/v3`` (``https://api.sendinblue.com/v3`` for the
legacy one) as their server, so the request URL is rewritten from the sandbox's base URL to the
edition's server before validation; the path, query, headers and body are kept as sent.

Three editions are used (see docs/brevo/FACTS.md section 0):

* ``"2025"``: SPEC-25, ``openapi-v3.yml``, the reference for every operation.
* ``"2026"``: SPEC-26, the re-serialised 2026-02 edition, which documents what SPEC-25 lacks
  (``exportDateInUTC``, a process's ``info``, ``error``, ``created_at``, the statuses
  ``processing``/``failed``/``cancelled``).
* ``"2026-choices"``: SPEC-26 with the one place where the sandbox's documented choice (docs/brevo/FACTS.md,
  table of choices: ``info.import`` holds counts plus URLs of ``;`` CSVs) knowingly departs from
  it: ``info.import.duplicate_email_id`` is a URL there, as the official Python SDK 4.0.10 types
  it ("URL to CSV file containing duplicate email IDs, or null if none"), where SPEC-26 says
  integer. Everything else is SPEC-26 unchanged.
* ``"legacy"``: SPEC-LEG, the older Sendinblue document, the only one with ``skipFilesMerge``,
  ``disableFrontendNotification`` and the deprecated ``contactFilter``.

How the documents are loaded (checked with openapi-core 0.23, docs/brevo/FACTS.md top section): YAML reads
response codes as integers, so every mapping key is turned into a string; the 2025 document fails
strict whole-spec validation in parts the project does not use (senders), so it is built with
``spec_validator_cls=None``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_schema_validator import OAS30Validator

Edition = Literal["2025", "2026", "2026-choices", "legacy"]

SPEC_FILES: dict[str, str] = {
    "2025": "openapi-v3.yml",
    "2026": "openapi-v3-2026-02-reserialized.yaml",
    "legacy": "legacy-swagger_definition-sendinblue.normalized.yaml",
}

# Statuses the spec's ``info.description`` table lists for every operation ("401 Error.
# Authentication Needed") or that Brevo's rate-limit page says any endpoint may answer (429),
# without each operation repeating them. Their body must still be the spec's ``errorModel``.
GLOBAL_ERROR_STATUSES: frozenset[int] = frozenset({401, 429})

_REPO_ROOT = Path(__file__).resolve().parents[2]


def spec_dir() -> Path:
    """Return the folder holding Brevo's spec files.

    ``BREVO_OPENAPI_DIR`` wins; then the copy vendored under ``docs/brevo`` in the repository.
    """
    candidates = [
        os.environ.get("BREVO_OPENAPI_DIR", ""),
        str(_REPO_ROOT / "docs" / "brevo"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / SPEC_FILES["2025"]).is_file():
            return Path(candidate)
    raise FileNotFoundError(
        f"Brevo's {SPEC_FILES['2025']} not found in any of {candidates}; "
        "set BREVO_OPENAPI_DIR to the folder holding it"
    )


def _stringify_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(key): _stringify_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_stringify_keys(item) for item in node]
    return node


# SPEC-26's `duplicate_email_id` widened to what PY4 4.0.10 and the sandbox's choice say.
DUPLICATE_EMAIL_ID_CHOICE: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "nullable": True},
        {"type": "string", "pattern": "^https?://", "nullable": True},
    ]
}


def _apply_sandbox_choices(node: Any) -> int:
    """Widen every ``info.import.duplicate_email_id`` schema in place; return how many."""
    changed = 0
    if isinstance(node, dict):
        imports = node.get("import") if "export" in node else None
        props = imports.get("properties") if isinstance(imports, dict) else None
        if isinstance(props, dict) and "duplicate_email_id" in props:
            props["duplicate_email_id"] = dict(DUPLICATE_EMAIL_ID_CHOICE)
            changed += 1
        for value in node.values():
            changed += _apply_sandbox_choices(value)
    elif isinstance(node, list):
        for item in node:
            changed += _apply_sandbox_choices(item)
    return changed


@functools.cache
def load_spec(edition: Edition = "2025") -> dict[str, Any]:
    """Return one edition as a plain dict, every mapping key a string (loaded once)."""
    if edition == "2026-choices":
        spec = copy.deepcopy(load_spec("2026"))
        if _apply_sandbox_choices(spec) == 0:
            raise AssertionError("SPEC-26 no longer has info.import.duplicate_email_id")
        return spec
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (spec_dir() / SPEC_FILES[edition]).open(encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=loader)
    spec = _stringify_keys(raw)
    assert isinstance(spec, dict)
    return spec


@functools.cache
def openapi(edition: Edition = "2025") -> OpenAPI:
    """Return the openapi-core object of one edition (built once)."""
    return OpenAPI.from_dict(load_spec(edition), config=Config(spec_validator_cls=None))


def server_url(edition: Edition = "2025") -> str:
    """Return the edition's declared server, e.g. ``https://api.brevo.com/v3``."""
    return str(load_spec(edition)["servers"][0]["url"]).rstrip("/")


def error_model_schema(edition: Edition = "2025") -> dict[str, Any]:
    """Return ``components.schemas.errorModel`` of an edition."""
    schema = load_spec(edition)["components"]["schemas"]["errorModel"]
    assert isinstance(schema, dict)
    return schema


class SpecViolation(AssertionError):
    """A sandbox exchange that Brevo's spec does not allow."""


def _describe(response: requests.Response) -> str:
    request = response.request
    body = response.content[:600].decode("utf-8", "replace")
    return f"{request.method} {request.url} -> {response.status_code} {body!r}"


def _cause_chain(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(parts) < 4:
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    schema_errors = getattr(exc, "schema_errors", None) or getattr(
        exc.__cause__, "schema_errors", None
    )
    for error in schema_errors or ():
        parts.append(f"  at {list(error.absolute_path)}: {error.message}")
    return "\n".join(parts)


def as_spec_request(
    request: requests.PreparedRequest, *, local_base: str, edition: Edition = "2025"
) -> RequestsOpenAPIRequest:
    """Wrap a sent request for openapi-core, its URL moved onto the edition's server.

    Args:
        request: the request as ``requests`` sent it (``response.request``).
        local_base: the sandbox's base URL, ending in ``/v3``.
        edition: whose ``servers`` entry to rewrite to.
    """
    url = str(request.url)
    local_base = local_base.rstrip("/")
    if not url.startswith(local_base + "/"):
        raise ValueError(f"{url} is not under the sandbox base {local_base}")
    moved = request.copy()
    moved.url = server_url(edition) + url[len(local_base) :]
    return RequestsOpenAPIRequest(moved)


def resolve_ref(node: dict[str, Any], edition: Edition = "2025") -> dict[str, Any]:
    """Follow local ``$ref`` pointers (``#/components/...``) until a plain object."""
    seen = 0
    while "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/") or seen > 10:
            raise ValueError(f"cannot follow $ref {ref!r}")
        target: Any = load_spec(edition)
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node, seen = target, seen + 1
    return node


def find_operation(
    request: requests.PreparedRequest, *, local_base: str, edition: Edition = "2025"
) -> tuple[str, str]:
    """Return ``(method, path template)`` of the edition's operation serving this request.

    Raises `SpecViolation` when the edition has no such operation.
    """
    spec_request = as_spec_request(request, local_base=local_base, edition=edition)
    finder = APICallPathFinder(openapi(edition).spec)
    try:
        found = finder.find(spec_request.method, spec_request.host_url + spec_request.path)
    except Exception as exc:  # PathNotFound / OperationNotFound / ServerNotFound
        raise SpecViolation(
            f"{edition} spec has no operation {request.method} {request.url}: {exc}"
        ) from exc
    return spec_request.method, str(found.path_result.pattern)


def operation_responses(
    request: requests.PreparedRequest, *, local_base: str, edition: Edition = "2025"
) -> dict[str, Any]:
    """Return the raw ``responses`` object the edition documents for this request's operation."""
    method, template = find_operation(request, local_base=local_base, edition=edition)
    responses = load_spec(edition)["paths"][template][method]["responses"]
    assert isinstance(responses, dict)
    return responses


def check_response(
    response: requests.Response, *, local_base: str, edition: Edition = "2025"
) -> None:
    """Raise `SpecViolation` unless the edition allows this response to this request.

    A status that the operation does not list is accepted only if it is one of
    `GLOBAL_ERROR_STATUSES` and its body is the edition's ``errorModel``. A documented response
    without content (``204``, and ``201`` of attribute creation) must have an empty body.
    """
    request = response.request
    documented = operation_responses(request, local_base=local_base, edition=edition)
    status = str(response.status_code)
    if status not in documented and "default" not in documented:
        if response.status_code in GLOBAL_ERROR_STATUSES:
            check_error_model(response, edition=edition)
            return
        raise SpecViolation(
            f"{edition} spec documents {sorted(documented)} for this operation, not {status}: "
            f"{_describe(response)}"
        )
    declared = resolve_ref(documented.get(status, documented.get("default")) or {}, edition)
    if not declared.get("content"):
        if response.content.strip():
            raise SpecViolation(
                f"{edition} spec documents no body for {status}, got one: {_describe(response)}"
            )
        return
    spec_request = as_spec_request(request, local_base=local_base, edition=edition)
    try:
        openapi(edition).validate_response(spec_request, RequestsOpenAPIResponse(response))
    except Exception as exc:  # openapi-core raises several unrelated classes
        raise SpecViolation(
            f"{edition} spec rejects the response: {_describe(response)}\n{_cause_chain(exc)}"
        ) from exc


def check_request(
    request: requests.PreparedRequest, *, local_base: str, edition: Edition = "2025"
) -> None:
    """Raise `SpecViolation` unless the request is one the edition documents (shape and auth)."""
    spec_request = as_spec_request(request, local_base=local_base, edition=edition)
    try:
        openapi(edition).validate_request(spec_request)
    except Exception as exc:  # openapi-core raises several unrelated classes
        raise SpecViolation(
            f"{edition} spec rejects the request {request.method} {request.url} "
            f"{(request.body or b'')[:300]!r}\n{_cause_chain(exc)}"
        ) from exc


def check_error_model(
    response: requests.Response, *, edition: Edition = "2025", codes: Iterable[str] = ()
) -> None:
    """Raise `SpecViolation` unless the body is the edition's ``errorModel`` (``{code, message}``).

    Args:
        response: the exchange.
        edition: whose ``errorModel`` to use.
        codes: if given, ``code`` must be one of these.
    """
    content_type = response.headers.get("Content-Type", "")
    if not content_type.startswith("application/json"):
        raise SpecViolation(f"error body is not application/json: {_describe(response)}")
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise SpecViolation(f"error body is not JSON: {_describe(response)}") from exc
    errors = sorted(
        OAS30Validator(error_model_schema(edition)).iter_errors(body), key=lambda e: e.path
    )
    if errors:
        details = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
        raise SpecViolation(f"{edition} errorModel rejects {_describe(response)}: {details}")
    wanted = set(codes)
    if wanted and body.get("code") not in wanted:
        raise SpecViolation(f"expected code in {sorted(wanted)}: {_describe(response)}")
