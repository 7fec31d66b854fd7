"""Runs a blocking in-process model off the event loop: one thread per model copy, bounded queue.

A `ModelRunner` owns `max_concurrency` slots. Each slot is a single-thread executor with its own
lazily loaded model (llama.cpp contexts are not thread-safe, so a model is only ever touched by
its own thread). Requests beyond the free slots wait in a queue of at most `max_queue`; past
that they are refused with `OverloadedError`. A slot is handed back only when its thread has
finished the job, so a cancelled request cannot overlap the next one on the same model.

Jobs receive a `threading.Event` that is set when the caller goes away; long jobs check it
between tokens and return early. Unexpected exceptions from a job become
`UpstreamProtocolError` here, so nothing from the inference library escapes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Generic, TypeVar, cast

from steward.errors import OverloadedError, ProviderError, StewardError, UpstreamProtocolError

__all__ = ["Emit", "ModelRunner", "SlotPool"]

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C")
S = TypeVar("S")

Emit = Callable[[C], None]
"""Called from the worker thread to hand one stream item to the event loop."""

logger = logging.getLogger(__name__)

_DONE = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: StewardError) -> None:
        self.error = error


class SlotPool(Generic[S]):
    """A fixed set of slots and a bounded FIFO of waiters; safe to release from any thread.

    Waiters are futures of whichever event loop asked, so one pool may outlive a loop (tests
    run several `asyncio.run`s against one provider).
    """

    def __init__(self, slots: list[S], *, max_waiting: int) -> None:
        self._free = list(slots)
        self._waiters: deque[asyncio.Future[S]] = deque()
        self._max_waiting = max_waiting
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> S:
        with self._lock:
            if self._free:
                return self._free.pop()
            if len(self._waiters) >= self._max_waiting:
                raise OverloadedError(
                    f"The local model is busy ({len(self._waiters)} requests queued); "
                    "retry shortly or add capacity."
                )
            waiter: asyncio.Future[S] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise

    def release(self, slot: S) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                try:
                    waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter, slot)
                except RuntimeError:  # that waiter's event loop is closed
                    continue
                return
            self._free.append(slot)

    def _hand_over(self, waiter: asyncio.Future[S], slot: S) -> None:
        if waiter.done():  # cancelled after it was picked
            self.release(slot)
        else:
            waiter.set_result(slot)

    def _abandon(self, waiter: asyncio.Future[S]) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return
        if waiter.done() and not waiter.cancelled():  # a slot arrived as we were cancelled
            self.release(waiter.result())


class _Slot(Generic[T]):
    """One worker thread and the model copy that only it touches."""

    def __init__(self, loader: Callable[[], T], label: str, index: int) -> None:
        self._loader = loader
        self._label = label
        self._model: T | None = None
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"steward-{label}-{index}"
        )

    def model(self) -> T:
        """The loaded model, loading it on first use. Worker thread only."""
        if self._model is None:
            try:
                self._model = self._loader()
            except StewardError:
                raise
            except Exception as exc:
                logger.exception("loading the local model %s failed", self._label)
                raise UpstreamProtocolError(
                    f"The local model {self._label!r} could not be loaded; "
                    "check its path and the server log."
                ) from exc
        return self._model

    def unload(self) -> None:
        model, self._model = self._model, None
        close = getattr(model, "close", None)
        if callable(close):
            close()


class ModelRunner(Generic[T]):
    """Admission control and thread hand-off for one in-process model."""

    def __init__(
        self, loader: Callable[[], T], *, label: str, max_concurrency: int = 1, max_queue: int = 32
    ) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.label = label
        self._slots = [_Slot(loader, label, i) for i in range(max_concurrency)]
        self._pool: SlotPool[_Slot[T]] = SlotPool(self._slots, max_waiting=max_queue)
        self._cancels: set[threading.Event] = set()
        self._closed = False

    @property
    def waiting(self) -> int:
        return self._pool.waiting

    async def call(self, job: Callable[[T, threading.Event], R]) -> R:
        """Run `job(model, cancelled)` on a model thread and return its result."""
        slot = await self._acquire()
        cancel = threading.Event()
        work = self._guarded(lambda: job(slot.model(), cancel))
        future = self._submit(slot, cancel, work)
        try:
            return await asyncio.wrap_future(future)
        finally:
            cancel.set()

    async def stream(
        self, job: Callable[[T, Emit[C], threading.Event], None]
    ) -> AsyncGenerator[C, None]:
        """Run `job(model, emit, cancelled)` on a model thread and yield what it emits.

        Closing this generator sets `cancelled`; the slot is free once the job has returned.
        """
        slot = await self._acquire()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancel = threading.Event()

        def post(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone; nobody is listening
                cancel.set()

        work = self._guarded(lambda: job(slot.model(), post, cancel))

        def run() -> None:
            try:
                work()
            except StewardError as exc:
                post(_Failure(exc))
            else:
                post(_DONE)

        self._submit(slot, cancel, run)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, _Failure):
                    raise item.error
                yield cast(C, item)
        finally:
            cancel.set()

    async def aclose(self) -> None:
        """Stop running jobs at their next check, free the models and end the threads."""
        if self._closed:
            return
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        unloads = [slot.executor.submit(slot.unload) for slot in self._slots]
        for slot in self._slots:
            slot.executor.shutdown(wait=False, cancel_futures=False)
        await asyncio.gather(*(asyncio.wrap_future(f) for f in unloads), return_exceptions=True)

    async def _acquire(self) -> _Slot[T]:
        if self._closed:
            raise ProviderError(f"The local model {self.label!r} has been shut down.")
        return await self._pool.acquire()

    def _guarded(self, work: Callable[[], R]) -> Callable[[], R]:
        """`work`, with anything but a `StewardError` logged and turned into one."""

        def guarded() -> R:
            try:
                return work()
            except StewardError:
                raise
            except Exception as exc:
                logger.exception("the local model %s failed", self.label)
                raise UpstreamProtocolError(
                    f"The local model {self.label!r} failed; see the server log."
                ) from exc

        return guarded

    def _submit(
        self, slot: _Slot[T], cancel: threading.Event, work: Callable[[], R]
    ) -> concurrent.futures.Future[R]:
        """Start `work` on the slot's thread; the slot returns to the pool when it ends."""

        def finished(_: object = None) -> None:
            self._cancels.discard(cancel)
            self._pool.release(slot)

        self._cancels.add(cancel)
        try:
            future = slot.executor.submit(work)
        except RuntimeError:  # shut down between the check and here
            finished()
            raise ProviderError(f"The local model {self.label!r} has been shut down.") from None
        future.add_done_callback(finished)
        return future
