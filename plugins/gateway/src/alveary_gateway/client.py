"""The HTTP side of the command-line client: one place that sends a request to the gateway
and turns every way it can go wrong into one line and an exit status.

Public for other plugins' commands that talk to a running gateway (``alveary workflow``,
``alveary loadtest --url``): ``Client``, ``Failed``, ``connection_options``, ``refusal`` and
``dump``, with the argument types and ``run`` of :mod:`alveary_gateway.command`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8787"
"""Where ``alveary run`` serves the API unless ``[plugins.gateway] listen`` says otherwise."""


def local_url(config: str = "alveary.toml") -> str:
    """The gateway ``alveary run`` serves from this directory: ``listen`` of
    ``[plugins.gateway]`` in ``./alveary.toml`` when it names a port, else ``DEFAULT_URL``.
    A file that cannot be read leaves the default; ``alveary check`` is what judges it."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the kernel depends on tomli there
        import tomli as tomllib
    from alveary.validators import is_unspecified, split_listen

    if not os.path.isfile(config):  # not a FIFO, which opening would wait on
        return DEFAULT_URL
    try:
        with open(config, "rb") as file:
            gateway = tomllib.loads(file.read(1 << 20).decode())["plugins"]["gateway"]
        host, port = split_listen(gateway["listen"])
        scheme = "https" if gateway.get("tls_cert") else "http"
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return DEFAULT_URL
    if port == 0:
        return DEFAULT_URL
    if is_unspecified(host):  # listening on every address: this machine's is loopback
        host = "::1" if ":" in host else "127.0.0.1"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


class Failed(Exception):
    """What a command prints on stderr as one line, and the exit status it ends with."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def connection_options() -> argparse.ArgumentParser:
    """``--url``, ``--token`` and ``--json``, shared by every command as a parent parser."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--url",
        default=None,
        help="the gateway (default: $ALVEARY_URL, else the listen address of "
        f"./alveary.toml, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("ALVEARY_TOKEN"),
        help="sent as 'Authorization: Bearer TOKEN' (default: $ALVEARY_TOKEN)",
    )
    parser.add_argument("--json", action="store_true", help="print the server's JSON")
    return parser


class Client:
    """A connection to one gateway; every request goes through :meth:`call`."""

    def __init__(self, url: str, token: str | None) -> None:
        if not url.startswith(("http://", "https://")):
            raise Failed(f"--url: expected http://host:port, got {url!r}", 2)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        try:
            self._http = httpx.Client(base_url=url, headers=headers, timeout=30.0)
        except (httpx.InvalidURL, ValueError) as exc:
            raise Failed(f"--url: {exc}", 2) from None
        self.url = url.rstrip("/")

    @classmethod
    def of(cls, args: argparse.Namespace) -> Client:
        return cls(args.url or os.environ.get("ALVEARY_URL") or local_url(), args.token)

    def close(self) -> None:
        self._http.close()

    def call(
        self, method: str, path: str, *, accept: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """Send a request; a 2xx answer (or a status in ``accept``) is returned, anything else
        raises :class:`Failed` naming the server's error code and message."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Failed(self._unreachable(exc)) from None
        if response.is_success or response.status_code in accept:
            return response
        raise Failed(refusal(response))

    def get(self, path: str, **params: Any) -> Any:
        """The JSON of a ``GET``, query parameters that are None left out."""
        query = {k: v for k, v in params.items() if v is not None}
        return self.call("GET", path, params=query).json()

    def events(self, types: list[str], after: int) -> Iterator[tuple[str | None, str]]:
        """``(event, data)`` of each Server-Sent Event after ``after`` and, for a comment
        line, ``(None, comment)``: the caller decides when to stop reading."""
        headers = {"last-event-id": str(after)}
        params = {"type": types} if types else {}
        try:
            with self._http.stream(
                "GET", "/v1/events", params=params, headers=headers, timeout=None
            ) as response:
                if not response.is_success:
                    response.read()
                    raise Failed(refusal(response))
                yield from _frames(response.iter_lines())
        except httpx.TransportError as exc:
            raise Failed(self._unreachable(exc)) from None

    def _unreachable(self, exc: httpx.TransportError) -> str:
        verb = (
            "cannot reach"
            if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            else ("lost the connection to")
        )
        return f"{verb} {self.url}: {_reason(exc)}"


def _frames(lines: Iterator[str]) -> Iterator[tuple[str | None, str]]:
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            yield None, line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif not line and data:
            yield event, "\n".join(data)
            event, data = None, []


def refusal(response: httpx.Response) -> str:
    """The server's ``{"error": {...}}`` as ``code: message (field)``, or the status and the
    start of whatever else it answered."""
    try:
        error = response.json()["error"]
        text = f"{error['code']}: {error['message']}"
        return f"{text} (field {error['field']})" if error.get("field") else text
    except (ValueError, KeyError, TypeError):
        body = " ".join(response.text.split())[:200]
        return f"HTTP {response.status_code} {response.reason_phrase}: {body or 'no body'}"


def _reason(exc: BaseException) -> str:
    """The operating system's words for a failed connection ("connection refused"), found
    under httpx's and httpcore's wrappers, else the exception's own."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__


def dump(value: Any) -> str:
    """JSON for stdout: indented, keys in the server's order."""
    return json.dumps(value, indent=2, ensure_ascii=False)
