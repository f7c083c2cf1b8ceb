"""The machinery of the public checks: a registry, a timeout, outcomes and the printed table.

A public check is a small function ``run(module) -> (expected, got)`` registered with
:func:`public_check` for one student function. It calls the student's function on fixed small
inputs and compares what comes back with a fixture or a public library (real Keras layers);
it raises :class:`Mismatch` (message, expected, got) when they differ. The student's code runs
in this process, under a timeout, and every outcome becomes one :class:`CheckRow`.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

PASSED, FAILED, NOT_IMPLEMENTED, ERROR, TIMED_OUT = (
    "passed", "failed", "not implemented yet", "error", "timed out")


class Mismatch(AssertionError):
    """A check's verdict that the student's result is wrong: what was expected, what was got."""

    def __init__(self, message: str, expected: str = "", got: str = ""):
        super().__init__(message)
        self.message, self.expected, self.got = message, expected, got


class CheckTimeout(BaseException):
    """Raised inside the student's call when its time is up (a BaseException, so that a bare
    ``except Exception`` in student code cannot swallow it)."""


@dataclass(frozen=True)
class PublicCheck:
    """One public check of one student function."""

    function: str
    name: str
    run: Callable[[ModuleType], tuple[str, str]]
    timeout: float


REGISTRY: dict[str, list[PublicCheck]] = {}
"""``{function name: its checks, in order}``, filled by the per-assignment modules."""


def public_check(function: str, name: str, timeout: float = 20.0) -> Callable:
    """Register ``run(module) -> (expected, got)`` as a public check of ``function``."""
    name = name.removeprefix(f"{function}: ")

    def register(run):
        REGISTRY.setdefault(function, []).append(PublicCheck(function, name, run, timeout))
        return run
    return register


@dataclass
class CheckRow:
    """One printed row: the check's name, its status and what was expected and got."""

    name: str
    status: str
    message: str = ""
    expected: str = ""
    got: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def verdict(self) -> str:
        """The status as printed: ``passed``, ``failed: ...``, ``not implemented yet: ...``."""
        return self.status if not self.message else f"{self.status}: {self.message}"


@dataclass
class CheckReport:
    """What ``check(function)`` found: one row per public check."""

    function: str
    source: str
    rows: list[CheckRow] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return bool(self.rows) and all(row.passed for row in self.rows)

    @property
    def not_implemented(self) -> bool:
        return any(row.status == NOT_IMPLEMENTED for row in self.rows)

    def __repr__(self) -> str:
        done = sum(row.passed for row in self.rows)
        return f"CheckReport({self.function}: {done}/{len(self.rows)} passed)"


RUN_CACHE: dict = {}
"""Values built once per ``check()`` call (e.g. a student's model used by several checks)."""


def memo(key, factory: Callable):
    """``factory()``, computed once per ``check()`` call for ``key`` (failures are not kept)."""
    if key not in RUN_CACHE:
        RUN_CACHE[key] = factory()
    return RUN_CACHE[key]


def _alarm_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def call_with_timeout(run: Callable[[], tuple[str, str]], seconds: float) -> tuple[str, str]:
    """``run()``, stopped with :class:`CheckTimeout` after ``seconds``.

    In the main thread (a notebook cell, a script) a SIGALRM timer interrupts the student's
    Python loop itself. Elsewhere the call runs in a daemon thread that is abandoned when its
    time is up (the notebook gets its prompt back; the thread may keep a core busy).
    """
    if _alarm_usable():
        def expire(signum, frame):
            raise CheckTimeout()
        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return run()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict = {}

    def target():
        try:
            box["value"] = run()
        except BaseException as error:  # handed to the caller below
            box["error"] = error
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise CheckTimeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _where(error: BaseException) -> str:
    """``file.py:line`` of the deepest frame outside this package (the student's code)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "seqlab/checks" not in f.filename.replace("\\", "/")]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})"


def run_check(item: PublicCheck, module: ModuleType) -> CheckRow:
    """Run one check on ``module`` and turn whatever happens into a row (never raises)."""
    start = time.perf_counter()
    row = CheckRow(item.name, PASSED)
    try:
        row.expected, row.got = call_with_timeout(lambda: item.run(module), item.timeout)
    except NotImplementedError as error:
        message = str(error).removeprefix(f"{item.function}: ")
        row.status, row.message = NOT_IMPLEMENTED, message.removesuffix(" (not implemented yet)")
    except Mismatch as error:
        row.status, row.message = FAILED, error.message
        row.expected, row.got = error.expected, error.got
    except CheckTimeout:
        row.status = TIMED_OUT
        row.message = f"no answer within {item.timeout:g} s (an endless loop?)"
    except Exception as error:
        row.status = ERROR
        row.message = f"{type(error).__name__}: {error}{_where(error)}"
    row.seconds = time.perf_counter() - start
    return row


# --------------------------------------------------------------- describing and comparing
def shape_text(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def describe(value) -> str:
    """A short description of any value: ``float64 (3, 7, 6)``, ``dict with keys [...]``."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {shape_text(value.shape)}"
    if isinstance(value, dict):
        return f"dict with keys {sorted(map(str, value))}"
    if isinstance(value, (tuple, list)):
        return f"{type(value).__name__} of {len(value)}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} {shape_text(tuple(value.shape))}"
    return f"{type(value).__name__} {str(value)[:40]}"


def preview(array, n: int = 4) -> str:
    """The first ``n`` values of an array, rounded: ``[0.123, -0.5, ...]``."""
    flat = np.asarray(array, dtype=np.float64).reshape(-1)
    shown = ", ".join(f"{v:.4g}" for v in flat[:n])
    return f"[{shown}{', ...' if flat.size > n else ''}]"


def as_array(value, label: str, call: str) -> np.ndarray:
    """``value`` as a NumPy array, or a :class:`Mismatch` saying what came back instead."""
    try:
        array = np.asarray(value)
    except Exception:
        array = None
    if array is None or array.dtype == object:
        raise Mismatch(f"{call}: {label} is not an array", "an array", describe(value))
    return array


def expect_shape(value, shape, label: str, call: str) -> np.ndarray:
    """``value`` as an array of ``shape``, else a :class:`Mismatch`."""
    array = as_array(value, label, call)
    if array.shape != tuple(shape):
        raise Mismatch(f"{call}: wrong shape of {label}", f"{label} {shape_text(shape)}",
                       f"{label} {shape_text(array.shape)}")
    return array


def expect_close(value, want: np.ndarray, label: str, call: str, atol: float = 1e-6,
                 hint: str = "") -> str:
    """Compare an array with the expected one; returns the largest difference as text."""
    array = expect_shape(value, want.shape, label, call)
    if not np.all(np.isfinite(array.astype(np.float64))):
        raise Mismatch(f"{call}: {label} holds NaN or infinite values", preview(want),
                       preview(array))
    diff = np.abs(array.astype(np.float64) - want)
    gap = float(diff.max()) if want.size else 0.0
    if gap > atol:
        where = np.unravel_index(int(np.argmax(diff)), diff.shape)
        at = f"{label}[{', '.join(map(str, where))}]" if where else label
        raise Mismatch(f"{call}: {label} differs by up to {gap:.3g} (tolerance {atol:g})"
                       f"{hint}", f"{at} = {float(want[where]):.6g}",
                       f"{at} = {float(array[where]):.6g}")
    return f"max |difference| {gap:.1e}"
