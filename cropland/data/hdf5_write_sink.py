"""Writing an HDF5 file through h5py so that a failed write (a full disk, a file-size limit)
or a signal never reaches HDF5, which cannot recover from one and would crash the process."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from cropland.errors import short_reason


@contextlib.contextmanager
def signals_held_back() -> Iterator[Callable[[], None]]:
    """Hold back Ctrl-C and SIGTERM while HDF5 writes through a :class:`WriteSink`; yield a
    function that delivers one that came (call it between HDF5 calls); deliver it on exit.

    Python runs signal handlers in the main thread between two bytecodes, which during a write
    may be inside the sink's methods: the KeyboardInterrupt or SystemExit would then reach HDF5
    as a failed write, and leave it in the state that crashes (see :class:`WriteSink`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None  # handlers run in the main thread only: never inside this one's calls
        return
    caught: list[int] = []
    held = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(number)
        if callable(handler) or handler == signal.SIG_DFL:  # not SIG_IGN, nor set outside Python
            held[number] = handler
            signal.signal(number, lambda number, frame: caught.append(number))

    def deliver() -> None:
        if caught:
            number = caught[0]
            caught.clear()
            if callable(held[number]):
                held[number](number, None)
            else:  # the default action: end the process, as it would have at once
                signal.signal(number, signal.SIG_DFL)
                signal.raise_signal(number)

    try:
        yield deliver
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
    deliver()  # one that came while the file was closed


class HDF5WriteError(OSError):
    """A write through :class:`WriteSink` failed (``__cause__``: the ``OSError`` behind it)."""


class WriteSink:
    """The temporary file, as h5py's ``fileobj`` driver sees it, taking write errors itself.

    HDF5 cannot recover from a failed write: the dataset or file whose flush failed is left
    half closed, and the next attempt to close it (h5py's own, or the garbage collector's at
    exit) uses freed memory and the process dies of a segfault (h5py issues 914, 1775, 2160).
    So HDF5 never sees one: the first ``OSError`` is kept, and what HDF5 writes from then on
    is held in memory (a few chunks and the metadata: the writer stops at once), so that HDF5
    still reads back what it wrote and closes cleanly. :meth:`raise_failure` then raises it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        self._position = 0
        self._size = 0  # as HDF5 sees it, held writes included
        self.error: OSError | None = None
        self._held: list[tuple[int, bytes]] = []  # (offset, bytes) written after the error

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def write(self, data: bytes) -> int:
        data = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(data):
                    done += os.pwrite(self._fd, data[done:], self._position + done)
            except OSError as error:
                self.error = error
        if self.error is not None:
            self._held.append((self._position, bytes(data)))
        self._position += len(data)
        self._size = max(self._size, self._position)
        return len(data)

    def read(self, size: int) -> bytes:
        """``size`` bytes as HDF5 wrote them; zeros past the end, as HDF5's own driver gives."""
        start, stop = self._position, self._position + size
        data = bytearray()
        try:
            data += os.pread(self._fd, size, start)
        except OSError as error:  # the write fails with it: HDF5 must not see it either
            self.error = self.error or error
        data.extend(bytes(size - len(data)))
        for offset, held in self._held:
            low, high = max(start, offset), min(stop, offset + len(held))
            if low < high:
                data[low - start : high - start] = held[low - offset : high - offset]
        self._position = stop
        return bytes(data)

    def truncate(self, size: int) -> int:
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as error:
                self.error = error
        self._size = size
        return size

    def flush(self) -> None:
        """Nothing to do: every write went straight to the file."""

    def close(self) -> None:
        if self._fd < 0:
            return
        try:
            os.close(self._fd)
        except OSError as error:  # some file systems report a full disk only now
            self.error = self.error or error
        self._fd = -1
        self._held.clear()

    def raise_failure(self, dst: Path) -> None:
        if self.error is not None:
            reason = self.error.strerror or short_reason(self.error)
            raise HDF5WriteError(
                self.error.errno, f"{reason}, writing {dst} into", str(self.path)
            ) from self.error
