"""The one exception the sandbox raises to answer a request with a Brevo error body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as ``{code, message[, metadata]}`` with an HTTP status, as Brevo does."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata = metadata
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Brevo sends for this error."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.metadata is not None:
            out["metadata"] = self.metadata
        return out


def invalid(message: str, **kwargs: Any) -> ApiError:
    """400 ``invalid_parameter``."""
    return ApiError(400, "invalid_parameter", message, **kwargs)


def missing(message: str) -> ApiError:
    """400 ``missing_parameter``."""
    return ApiError(400, "missing_parameter", message)


def out_of_range(message: str) -> ApiError:
    """400 ``out_of_range``."""
    return ApiError(400, "out_of_range", message)


def not_found(message: str) -> ApiError:
    """404 ``document_not_found``."""
    return ApiError(404, "document_not_found", message)
