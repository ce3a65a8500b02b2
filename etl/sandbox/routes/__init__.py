"""The sandbox's HTTP handlers, one module per resource: ``contacts``, ``attributes``,
``folders``, ``lists``, ``segments``, ``imports_exports``, ``processes``, ``account``,
``files`` (``/exports/`` downloads) and ``admin`` (``/_sandbox/``); ``common`` holds the
``Context`` they work on and the request/response helpers.

A handler is ``handle_*(ctx, request, body, **path_args) -> Response``: it validates the
request, calls ``ctx.account.<resource>`` and renders Brevo's answer. Dispatch, faults,
authentication, rate limits and the request log stay in ``etl.sandbox.app``.

May import werkzeug and the rest of ``etl.sandbox`` except ``etl.sandbox.app`` and
``etl.sandbox.server``; nothing from the rest of ``etl``.
"""

from __future__ import annotations
