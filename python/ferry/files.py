"""Writing output files: checking a path before any work, and replacing the file atomically.

Both the command line and the Python API check the output path first, so a typo in a
directory name fails in a moment rather than after a long conversion; and both write through
`atomic_path`, so a failure never leaves a partial file where the user expects a model.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator, Sequence


def check_output_path(path: str | os.PathLike[str], suffixes: Sequence[str]) -> str:
    """The absolute path to write, or ValueError("ferry: ...") saying why it cannot be written.

    `suffixes` are the allowed extensions (".keras", ".tflite"). Checks only the file system:
    nothing is created.
    """
    text = os.fspath(path)
    if not text:
        raise ValueError("ferry: no output file given")
    allowed = [s if s.startswith(".") else f".{s}" for s in suffixes]
    if os.path.isdir(text):
        example = os.path.join(text, "model" + allowed[0]) if allowed else text
        raise ValueError(
            f"ferry: the output {text!r} is a directory; give a file name, e.g. {example}"
        )
    suffix = os.path.splitext(text)[1]
    if suffix not in allowed:
        names = " or ".join(allowed)
        got = f"ends in {suffix!r}" if suffix else "has no extension"
        raise ValueError(f"ferry: cannot write {text!r}: the output must end in {names} ({got})")
    target = os.path.abspath(text)
    directory = os.path.dirname(target)
    if not os.path.exists(directory):
        raise ValueError(
            f"ferry: cannot write {text!r}: the directory {directory!r} does not exist"
        )
    if not os.path.isdir(directory):
        raise ValueError(f"ferry: cannot write {text!r}: {directory!r} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(
            f"ferry: cannot write {text!r}: the directory {directory!r} is not writable"
        )
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[str]:
    """Yields a new temporary path next to `target`; on success it is renamed over `target`,
    on failure it is removed.

    The temporary file exists (empty) when the block starts, and the final file has the
    permissions a plain `open(target, "w")` would give: those of an existing `target`, else
    0o666 less the umask. The temporary name keeps `target`'s extension (Keras checks it).
    """
    final = os.path.realpath(target)  # like open(), write through a symbolic link
    directory, name = os.path.split(final)
    suffix = os.path.splitext(name)[1]
    tmp, fd = _create_beside(directory, suffix)
    os.close(fd)
    try:
        yield tmp
        with contextlib.suppress(FileNotFoundError):  # replacing a file keeps its mode
            os.chmod(tmp, stat.S_IMODE(os.stat(final).st_mode))
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _create_beside(directory: str, suffix: str) -> tuple[str, int]:
    # os.open with 0o666 leaves the mode to the umask, as open() does; tempfile.mkstemp
    # would make it 0o600 whatever the umask.
    for _ in range(100):
        tmp = os.path.join(directory, f".ferry-{secrets.token_hex(6)}{suffix}")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"ferry: no free temporary file name in {directory!r}")
