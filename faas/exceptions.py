"""The project's exception classes; messages are built from the fields they carry."""

from __future__ import annotations


class FaasError(Exception):
    """Base class of every error the platform raises."""


class APIError(FaasError):
    """The API refused a request (raised by the client); the message carries its status
    and detail."""

    def __init__(self, message: str, status_code: int = 0) -> None:
        super().__init__(message)
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (server trouble, throttling)."""
        return not 400 <= self.status_code < 500 or self.status_code in (408, 429)


class SerializationError(FaasError):
    """A payload could not be encoded or decoded."""


class PayloadError(FaasError):
    """A payload is not valid base64, not one complete pickle, or not the right shape."""


class FunctionNotFoundError(FaasError):
    """No function is registered under this id."""

    def __init__(self, function_id: str) -> None:
        super().__init__(f"Function not found: {function_id}")
        self.function_id = function_id


class TaskNotFoundError(FaasError):
    """No task exists under this id."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"Task not found: {task_id}")
        self.task_id = task_id


class ProtocolError(FaasError):
    """A frame on a dispatcher/worker socket is malformed or of an unknown kind."""


class ProtocolVersionError(ProtocolError):
    """A peer speaks another version of the protocol."""
