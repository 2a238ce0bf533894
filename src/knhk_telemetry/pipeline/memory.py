"""A process-wide memory limit, checked off the hot path (as the Collector's memory_limiter).

A daemon thread samples the resident set size every ``check_interval`` seconds; producers only
read a flag. Over ``limit_bytes`` data is refused with :class:`MemoryLimitError` until usage
falls below ``limit_bytes - spike_bytes`` (hysteresis, so the state does not flap). Refusing at
the entry is what keeps accepted data safe: everything already queued is still exported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psutil

from knhk_telemetry.errors import MemoryLimitError

log = logging.getLogger("knhk_telemetry.pipeline.memory")


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)


class MemoryLimiter:
    """Refuses data while the process uses more than ``limit_bytes`` of resident memory."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        spike_bytes: int | None = None,
        check_interval: float = 0.1,
        usage: Callable[[], int] = _rss,
    ) -> None:
        if limit_bytes <= 0:
            raise ValueError("limit_bytes must be > 0")
        self.limit_bytes = limit_bytes
        self.spike_bytes = limit_bytes // 5 if spike_bytes is None else spike_bytes
        if not 0 <= self.spike_bytes < limit_bytes:
            raise ValueError("spike_bytes must be >= 0 and < limit_bytes")
        self.check_interval = check_interval
        self._usage = usage
        self.over = False
        self.last_usage = 0
        self.refusals = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Sample usage now and update the state; returns whether data is refused."""
        used = self._usage()
        self.last_usage = used
        if not self.over and used > self.limit_bytes:
            self.over = True
            log.warning(
                "memory limit reached: refusing data", extra={"rss_bytes": used, "limit_bytes": self.limit_bytes}
            )
        elif self.over and used < self.limit_bytes - self.spike_bytes:
            self.over = False
            log.info("memory back under the limit: accepting data", extra={"rss_bytes": used})
        return self.over

    def admit(self) -> None:
        """Raise :class:`MemoryLimitError` while over the limit (a flag read: no syscall)."""
        if self.over:
            self.refusals += 1
            raise MemoryLimitError(
                f"memory limit: {self.last_usage / 2**20:.0f} MiB resident, limit {self.limit_bytes / 2**20:.0f} MiB"
            )

    def start(self) -> None:
        if self._thread is not None:
            return
        self.check()
        self._thread = threading.Thread(target=self._run, name="knhk-memory-limiter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval):
            self.check()

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
