"""One error type for everything a user can get wrong.

The CLI prints a :class:`CamdeblurError` as a single line ``camdeblur: error: <where>: <what>. <fix>``
and exits non-zero; any other exception is a bug and is reported as such (traceback with ``--debug``).
"""

from __future__ import annotations

from os import PathLike


class CamdeblurError(Exception):
    """A user-facing error: *what* went wrong, *where* (a file or option), and *fix* (what to do).

    Example:
        >>> raise CamdeblurError("not a readable image", where="a.png", fix="check the file is PNG/JPEG/TIFF/WebP")
    """

    def __init__(self, what: str, where: str | PathLike | None = None, fix: str | None = None, exit_code: int = 2):
        if where is None and fix is None and "\nOriginal Traceback" in what:
            what = _from_worker(what)
        self.what = what
        self.where = None if where is None else str(where)
        self.fix = fix
        self.exit_code = exit_code
        super().__init__(self.line())

    def line(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.what.rstrip("."))
        if self.fix:
            parts.append(f" ({self.fix.rstrip('.')})")
        return "".join(parts)


def _from_worker(text: str) -> str:
    """torch's DataLoader re-raises a worker's exception as ``type(exc)(<whole traceback>)``; recover
    the original one-line message (the traceback's last line) so the CLI still prints one line."""
    for line in reversed(text.strip().splitlines()):
        for prefix in (f"{__name__}.CamdeblurError: ", "CamdeblurError: "):
            if line.startswith(prefix):
                return line[len(prefix):]
    return text


def require(condition: bool, what: str, where: str | PathLike | None = None, fix: str | None = None) -> None:
    """Raise :class:`CamdeblurError` unless *condition* holds."""
    if not condition:
        raise CamdeblurError(what, where=where, fix=fix)


def optional_import(module: str, extra: str, feature: str):
    """Import an optional heavy dependency, or raise one clear line naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CamdeblurError(
            f"{feature} needs the optional package '{module}' ({exc})",
            fix=f"pip install 'camdeblur[{extra}]'",
        ) from None
