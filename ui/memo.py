"""The dashboard's caches of data it has read, bounded in bytes rather than in entries.

``st.cache_data(max_entries=8)`` could hold eight 200 MB tables at once. :func:`memo` keeps the
results of every decorated function in one least-recently-used store of at most
``TRANSFERLAB_UI_CACHE_MB`` megabytes (default 1024), measured as the size of each result pickled
(what ``st.cache_data`` stores too); a result larger than a quarter of the budget is not kept. Like
``st.cache_data`` it hands each caller its own copy, so a page cannot change what another one sees.
Arguments must be hashable: paths of content-addressed uploads, numbers, names.
"""

from __future__ import annotations

import functools
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

BUDGET_ENV = "TRANSFERLAB_UI_CACHE_MB"
DEFAULT_BUDGET_MB = 1024
F = TypeVar("F", bound=Callable[..., Any])


class ByteLRU:
    """Pickled values by key, the least recently used dropped first once ``max_bytes`` is exceeded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, key: Any) -> tuple[bool, Any]:
        with self._lock:
            blob = self._items.get(key)
            if blob is None:
                return False, None
            self._items.move_to_end(key)
        return True, pickle.loads(blob)

    def put(self, key: Any, value: Any) -> None:
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        if len(blob) > self.max_bytes // 4:
            return  # too large to be worth holding: computed again when asked
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= len(old) if old is not None else 0
            self._items[key] = blob
            self._bytes += len(blob)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


STORE = ByteLRU(int(float(os.environ.get(BUDGET_ENV, DEFAULT_BUDGET_MB)) * 1024**2))


def memo(spinner: str | None = None) -> Callable[[F], F]:
    """Cache a function's results in :data:`STORE`, keyed by its name and arguments."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
            found, value = STORE.get(key)
            if found:
                return value
            if spinner:
                with st.spinner(spinner):
                    value = fn(*args, **kwargs)
            else:
                value = fn(*args, **kwargs)
            STORE.put(key, value)
            return value

        return wrapper  # type: ignore[return-value]

    return decorate
