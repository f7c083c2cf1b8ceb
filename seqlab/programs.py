"""Data for "learning to execute" (Zaremba and Sutskever 2014): programs, additions, copies.

A sequence-to-sequence model reads a short Python program character by character and writes
what it prints, e.g. (``length=4``, ``nesting=3``)::

    j=8584
    for x in range(8):
      j+=920
    b=(1500+j)
    print((b+7567))                  ->  25011

Programs are built from ``nesting`` operations composed one after the other: each operation
takes the expression built so far as one of its operands (at a random position) and fresh
constants of exactly ``length`` digits as the others. The operations, as in the paper:

- ``(A+B)`` and ``(A-B)``;
- ``(A*k)`` or ``(k*A)`` with a small factor ``k`` in ``[2, 4 * length]``;
- ``(C if A<B else D)`` (or ``>``), a conditional expression;
- ``v=A`` then ``(v+B)`` or ``(v-B)``: a variable assignment;
- ``v=A`` then ``for x in range(k):`` / ``  v+=B`` (or ``-=``) with ``k`` in ``[2, 4 * length]``:
  a loop that accumulates (no nested loops).

Every program ends with one ``print``. Its target is the text Python prints, without the
final newline, and it is checked when the program is made: the program is run with no
builtins but ``range`` and a captured ``print``, and a mismatch raises.

Everything here is a pure function of its ``seed`` (``numpy.random.default_rng``).

The curriculum strategies of the paper (section 4) are in :func:`curriculum`; the fixed
character vocabularies and padded arrays for a Keras encoder-decoder in
:func:`source_vocabulary`, :func:`target_vocabulary` and :func:`encode_pairs`.
"""

from __future__ import annotations

import builtins
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seqlab.text import CharVocabulary

Pair = tuple[str, str]
"""A ``(source, target)`` pair of strings, e.g. ``("123+45", "168")``."""

OPERATIONS = ("add_sub", "small_mul", "if_else", "assign", "loop")
"""The operations a program is composed of, one per nesting level, drawn uniformly."""

VARIABLES = "abcdefghijklmnopqrstuvwyz"
"""Variable names a program may assign (``x`` is the loop counter)."""

SOURCE_CHARS = "\n ()*+-:<=>0123456789abcdefghijklmnopqrstuvwxyz"
"""Every character a program, an addition or a copy task source can contain."""

TARGET_CHARS = "-0123456789"
"""Every character a target can contain (programs may print negative numbers)."""

STRATEGIES = ("none", "naive", "mix", "combined")
"""The curriculum strategies :func:`curriculum` knows (Zaremba and Sutskever, section 4)."""

TASKS = ("programs", "additions", "copies")


class ProgramError(AssertionError):
    """A generated program does not print its target: a bug in this module."""


# --- programs -----------------------------------------------------------------------------------

@dataclass
class _Builder:
    """The program under construction: statements so far, the current expression and value."""

    rng: np.random.Generator
    length: int
    lines: list[str] = field(default_factory=list)
    expr: str | None = None
    value: int = 0
    free: list[str] = field(default_factory=list)

    def constant(self) -> tuple[str, int]:
        low = 10 ** (self.length - 1)
        value = int(self.rng.integers(low, 10 * low))
        return str(value), value

    def small(self) -> int:
        return int(self.rng.integers(2, 4 * self.length + 1))

    def operands(self, count: int) -> list[tuple[str, int]]:
        """``count`` operands: the expression so far (if any) at a random place, then constants."""
        out = [self.constant() for _ in range(count)]
        if self.expr is not None:
            out[int(self.rng.integers(count))] = (self.expr, self.value)
        return out

    def variable(self) -> str:
        return self.free.pop()

    def apply(self, operation: str) -> None:
        rng = self.rng
        if operation == "add_sub":
            (a, va), (b, vb) = self.operands(2)
            plus = bool(rng.integers(2))
            self.expr, self.value = (f"({a}+{b})", va + vb) if plus else (f"({a}-{b})", va - vb)
        elif operation == "small_mul":
            [(a, va)] = self.operands(1)
            k = self.small()
            self.expr = f"({a}*{k})" if rng.integers(2) else f"({k}*{a})"
            self.value = va * k
        elif operation == "if_else":
            (a, va), (b, vb), (c, vc), (d, vd) = self.operands(4)
            less = bool(rng.integers(2))
            chosen = (va < vb) if less else (va > vb)
            self.expr = f"({c} if {a}{'<' if less else '>'}{b} else {d})"
            self.value = vc if chosen else vd
        elif operation == "assign":
            (a, va), (b, vb) = self.operands(2)
            v = self.variable()
            self.lines.append(f"{v}={a}")
            plus = bool(rng.integers(2))
            self.expr, self.value = (f"({v}+{b})", va + vb) if plus else (f"({v}-{b})", va - vb)
        elif operation == "loop":
            (a, va), (b, vb) = self.operands(2)
            v, k = self.variable(), self.small()
            plus = bool(rng.integers(2))
            self.lines += [f"{v}={a}", f"for x in range({k}):", f"  {v}{'+' if plus else '-'}={b}"]
            self.expr, self.value = v, va + k * vb if plus else va - k * vb
        else:
            raise ValueError(f"unknown operation {operation!r}: expected one of {OPERATIONS}")


def run_program(program: str) -> str:
    """What ``program`` prints, without the final newline, run in a restricted namespace.

    The program sees no builtins but ``range`` and ``print`` (which writes to a buffer) and
    cannot import anything. Only for the programs this module makes: this is a check, not a
    sandbox for untrusted code.
    """
    buffer = io.StringIO()
    namespace = {"__builtins__": {"range": range,
                                  "print": functools.partial(builtins.print, file=buffer)}}
    exec(compile(program, "<program>", "exec"), namespace)
    printed = buffer.getvalue()
    return printed[:-1] if printed.endswith("\n") else printed


def _check_level(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _program(rng: np.random.Generator, length: int, nesting: int) -> Pair:
    if nesting > len(VARIABLES):
        raise ValueError(f"nesting must be at most {len(VARIABLES)}, got {nesting}")
    free = list(VARIABLES)
    rng.shuffle(free)
    builder = _Builder(rng, length, free=free)
    for _ in range(nesting):
        builder.apply(OPERATIONS[int(rng.integers(len(OPERATIONS)))])
    program = "\n".join([*builder.lines, f"print({builder.expr})"])
    target = str(builder.value)
    printed = run_program(program)
    if printed != target:
        raise ProgramError(f"program prints {printed!r}, expected {target!r}:\n{program}")
    return program, target


def make_programs(n: int, length: int = 2, nesting: int = 1, seed: int = 0) -> list[Pair]:
    """``n`` random programs and what they print, ``[(program, target), ...]``.

    ``length`` is the number of digits of every constant (loop counts and small factors are
    in ``[2, 4 * length]``); ``nesting`` the number of operations composed. Each target was
    checked by running its program. Same arguments, same list.

    >>> make_programs(1, length=2, nesting=1, seed=3)
    [('print((78 if 25<76 else 96))', '78')]
    """
    length, nesting = _check_level("length", length), _check_level("nesting", nesting)
    rng = np.random.default_rng(seed)
    return [_program(rng, length, nesting) for _ in range(n)]


# --- additions and copies -----------------------------------------------------------------------

def _addition(rng: np.random.Generator, digits: int) -> Pair:
    a, b = (int(v) for v in rng.integers(0, 10**digits, size=2))
    return f"{a}+{b}", str(a + b)


def make_additions(n: int, digits: int, seed: int = 0) -> list[Pair]:
    """``n`` sums ``("a+b", "a+b evaluated")`` with ``a`` and ``b`` uniform in ``[0, 10**digits)``.

    So operands have up to ``digits`` digits (90% exactly ``digits``), as in the paper's
    addition task.

    >>> make_additions(2, digits=3, seed=0)
    [('850+636', '1486'), ('511+269', '780')]
    """
    digits = _check_level("digits", digits)
    rng = np.random.default_rng(seed)
    return [_addition(rng, digits) for _ in range(n)]


def _copy(rng: np.random.Generator, length: int) -> Pair:
    text = "".join(map(str, rng.integers(0, 10, size=length)))
    return text, text


def make_copies(n: int, length: int, seed: int = 0) -> list[Pair]:
    """``n`` copy-task pairs ``(digits, the same digits)``, each ``length`` random digits long.

    >>> make_copies(2, length=4, seed=0)
    [('8652', '8652'), ('3000', '3000')]
    """
    length = _check_level("length", length)
    rng = np.random.default_rng(seed)
    return [_copy(rng, length) for _ in range(n)]


def _example(task: str, rng: np.random.Generator, length: int, nesting: int) -> Pair:
    if task == "programs":
        return _program(rng, length, nesting)
    if task == "additions":
        return _addition(rng, length)
    return _copy(rng, length)


# --- curriculum ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    """One stage of a curriculum: train on ``examples`` until learning stops improving.

    ``length`` and ``nesting`` are the stage's level (for ``"mix"`` and ``"none"``, the
    target); ``levels[i]`` is the ``(length, nesting)`` example ``i`` was drawn at, so results
    can be broken down by difficulty.
    """

    length: int
    nesting: int
    examples: list[Pair]
    levels: list[tuple[int, int]]

    def __len__(self) -> int:
        return len(self.examples)

    def __repr__(self) -> str:
        return (f"Stage(length={self.length}, nesting={self.nesting}, "
                f"{len(self.examples)} examples)")


def curriculum(strategy: str, n: int, length: int, nesting: int = 1, seed: int = 0,
               task: str = "programs", mix_share: float = 0.5) -> list[Stage]:
    """Training data for a curriculum strategy of Zaremba and Sutskever (2014), in stages.

    The target difficulty is ``(length, nesting)``; each stage holds ``n`` examples.

    - ``"none"``: one stage, every example at the target (no curriculum, the baseline);
    - ``"naive"``: stages of increasing difficulty, ``(1, 1), (2, 1), ..., (length, 1)``,
      then ``(1, 2), ..., (length, 2)``, ... up to ``(length, nesting)`` (length grows first
      and restarts at 1 when nesting grows), every example at its stage's level;
    - ``"mix"``: one stage; each example draws its own length uniformly from ``1..length`` and
      nesting from ``1..nesting``, so easy and target-difficulty examples are mixed (the
      paper's new strategy);
    - ``"combined"``: the naive stages, but each example is drawn as in ``"mix"`` with
      probability ``mix_share`` (else at the stage's level).

    Train on each stage in turn (move on when validation stops improving, or after a fixed
    number of epochs); evaluate at the target difficulty (``make_programs`` with another
    seed). ``task`` is ``"programs"``, ``"additions"`` (``length`` is the digit count,
    ``nesting`` must be 1) or ``"copies"`` (``length`` is the sequence length). A pure
    function of ``seed``.

    >>> [(s.length, s.nesting) for s in curriculum("naive", 10, length=2, nesting=2)]
    [(1, 1), (2, 1), (1, 2), (2, 2)]
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: expected one of {STRATEGIES}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    length, nesting = _check_level("length", length), _check_level("nesting", nesting)
    if task != "programs" and nesting != 1:
        raise ValueError(f"the {task} task has no nesting: leave nesting=1, got {nesting}")
    if not 0.0 <= mix_share <= 1.0:
        raise ValueError(f"mix_share must be in [0, 1], got {mix_share}")
    rng = np.random.default_rng(seed)

    def stage(level: tuple[int, int], share: float) -> Stage:
        levels = []
        for _ in range(n):
            if share > 0 and (share >= 1 or rng.random() < share):
                levels.append((int(rng.integers(1, length + 1)),
                               int(rng.integers(1, nesting + 1))))
            else:
                levels.append(level)
        examples = [_example(task, rng, *lv) for lv in levels]
        return Stage(level[0], level[1], examples, levels)

    target = (length, nesting)
    if strategy == "none":
        return [stage(target, 0.0)]
    if strategy == "mix":
        return [stage(target, 1.0)]
    share = mix_share if strategy == "combined" else 0.0
    return [stage((lv, nv), share) for nv in range(1, nesting + 1) for lv in range(1, length + 1)]


# --- encoding for a seq2seq model ---------------------------------------------------------------

def source_vocabulary() -> CharVocabulary:
    """The fixed source vocabulary: padding (0) then :data:`SOURCE_CHARS`."""
    return CharVocabulary(SOURCE_CHARS)


def target_vocabulary() -> CharVocabulary:
    """The fixed target vocabulary: padding (0), start (1), end (2), then :data:`TARGET_CHARS`."""
    return CharVocabulary(TARGET_CHARS, start=True, end=True)


@dataclass(frozen=True)
class EncodedPairs:
    """Pairs as padded int32 arrays for teacher forcing.

    - ``source (n, S)``: the source ids, padded at the front (``"pre"``), so an encoder GRU
      reads the real characters last and needs no mask;
    - ``target_in (n, L)``: start id then the target ids, padded at the back;
    - ``target_out (n, L)``: the target ids then the end id, padded at the back: what the
      decoder must predict at each step (``target_in`` shifted left by one);
    - ``weights (n, L)``: float32, 1 where ``target_out`` is not padding: pass it as
      ``sample_weight`` so padding does not count in the loss.
    """

    source: np.ndarray
    target_in: np.ndarray
    target_out: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.source)


def prepare_source(text: str, reverse: bool = False, double: bool = False) -> str:
    """The source as the model reads it: reversed and/or doubled (the paper's input tricks).

    Reversing makes the source's first characters the last ones the encoder reads, right
    before the decoder writes the target's first characters (Sutskever et al. 2014): in
    ``"57+38"`` read as ``"83+75"``, the leading ``5`` comes last, next to the sum's leading
    digit that depends on it. Doubling shows the model the source twice.
    """
    if reverse:
        text = text[::-1]
    return text + text if double else text


def encode_pairs(pairs: Sequence[Pair], source_vocab: CharVocabulary | None = None,
                 target_vocab: CharVocabulary | None = None, *, reverse: bool = False,
                 double: bool = False, source_len: int | None = None,
                 target_len: int | None = None) -> EncodedPairs:
    """Encode ``(source, target)`` pairs for a seq2seq model (see :class:`EncodedPairs`).

    The vocabularies default to :func:`source_vocabulary` and :func:`target_vocabulary` (the
    target one needs start and end tokens). ``reverse`` and ``double`` transform each source
    with :func:`prepare_source`. ``source_len`` and ``target_len`` default to the longest
    source and target (+1 for the start/end token); longer ones raise.
    """
    source_vocab = source_vocab or source_vocabulary()
    target_vocab = target_vocab or target_vocabulary()
    if target_vocab.start_id is None or target_vocab.end_id is None:
        raise ValueError("the target vocabulary needs start and end tokens")
    sources = [source_vocab.encode(prepare_source(s, reverse, double)) for s, _ in pairs]
    targets = [target_vocab.encode(t) for _, t in pairs]
    longest_source = max((len(s) for s in sources), default=1)
    longest_target = max((len(t) for t in targets), default=0) + 1
    source_len = longest_source if source_len is None else source_len
    target_len = longest_target if target_len is None else target_len
    if longest_source > source_len or longest_target > target_len:
        raise ValueError(f"a pair is longer than source_len={source_len} (longest "
                         f"{longest_source}) or target_len={target_len} (longest "
                         f"{longest_target} with its start/end token)")
    n = len(pairs)
    source = np.zeros((n, source_len), np.int32)
    target_in = np.zeros((n, target_len), np.int32)
    target_out = np.zeros((n, target_len), np.int32)
    for row, (src, tgt) in enumerate(zip(sources, targets, strict=True)):
        if src:
            source[row, source_len - len(src):] = src
        target_in[row, : len(tgt) + 1] = [target_vocab.start_id, *tgt]
        target_out[row, : len(tgt) + 1] = [*tgt, target_vocab.end_id]
    return EncodedPairs(source, target_in, target_out, (target_out != 0).astype(np.float32))


def exact_match(predictions: Sequence[str], targets: Sequence[str]) -> float:
    """The fraction of predictions equal to their target, character for character."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    if not targets:
        return float("nan")
    return float(np.mean([p == t for p, t in zip(predictions, targets, strict=True)]))
