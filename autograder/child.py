"""The untrusted side: import the student's module and run the tasks it is given.

Run as a plain script, ``python -I -B child.py spec.json``, by :mod:`autograder.sandbox`, in
a sandbox whose work folder holds only the submitted module and the grader's inputs; the
``autograder`` package itself is not there, so this file imports nothing from it (only the
standard library, NumPy, Keras and ``seqlab``). Tasks call one student function each and
leave their result as *files* (a saved ``.keras`` model, ``.npy`` arrays) in ``out/``, which
the parent checks and the trusted worker loads and measures itself: nothing this process says
is believed, since student code runs in it and can forge any of it. The snapshot of Keras,
NumPy and builtins taken before the import only explains, in a sentence, why a result that
the parent rejected may be odd (``tampered``); it earns and protects no points.
"""

from __future__ import annotations

import builtins
import importlib.util
import inspect
import json
import os
import sys
import time
import traceback

import numpy as np

WATCHED = ("builtins", "json", "numpy", "numpy.random", "numpy.linalg", "inspect")


def _watch_list(uses_keras: bool = True):
    objects = {name: sys.modules[name] for name in WATCHED if name in sys.modules}
    if not uses_keras:
        return objects
    import keras

    objects.update({"keras": keras, "keras.layers": keras.layers, "keras.Model": keras.Model,
                    "keras.layers.Layer": keras.layers.Layer, "keras.saving": keras.saving,
                    "keras.ops": keras.ops})
    return objects


def snapshot(objects) -> dict[str, dict[str, int]]:
    """``{object name: {attribute: id(value)}}`` for everything watched."""
    return {name: {k: id(v) for k, v in vars(obj).items()} for name, obj in objects.items()}


LAZY = frozenset({"__annotations__", "_abc_impl"})  # filled in by Python itself on first use


def changed(objects, before) -> list[str]:
    """Attributes removed or replaced since ``before`` (on classes: added ones too).

    Attributes added to *modules* are not flagged: lazy imports add submodules as they load.
    An attribute added to a class shadows an inherited method (``Model.count_params = ...``).
    """
    after = snapshot(objects)
    diffs = []
    for name, attrs in before.items():
        now = after[name]
        keys = attrs.keys() | now.keys() if isinstance(objects[name], type) else attrs.keys()
        diffs += [f"{name}.{k}" for k in keys if k not in LAZY and now.get(k) != attrs.get(k)]
    return sorted(diffs)


def warm_up(workdir: str) -> None:
    """Build and save one tiny model so Keras' lazy set-up happens before the snapshot."""
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    outputs = keras.layers.Dense(1)(keras.layers.Embedding(3, 2)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy")
    model.save(os.path.join(workdir, "out", ".warm_up.keras"))
    os.remove(os.path.join(workdir, "out", ".warm_up.keras"))


def student_frame(exc: BaseException, module_file: str) -> str:
    """' (line N: code)' for the deepest traceback frame inside the student's file."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == module_file]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (sentiment.py line {frame.lineno}: {frame.line})".replace(
        "sentiment.py", os.path.basename(module_file))


def describe_error(exc: BaseException, module_file: str) -> tuple[str, str]:
    """(status, sentence) for an exception raised by student code."""
    if isinstance(exc, NotImplementedError):
        return "not_implemented", f"not implemented yet: {exc}" if str(exc) else \
            "not implemented yet"
    if isinstance(exc, SystemExit):
        return "error", f"called sys.exit({exc.code!r}) instead of returning"
    if isinstance(exc, MemoryError):
        return "error", "ran out of memory (the grader's limit): is something far too large?"
    if isinstance(exc, RecursionError):
        return "error", "recursed without end (RecursionError)"
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return "error", f"raised {type(exc).__name__}: {text}{student_frame(exc, module_file)}"


def signature_of(function) -> dict:
    """The parameters of the object the module binds (``inspect.signature``: through
    ``functools.wraps``' ``__wrapped__``), as the parent's signature check reads them."""
    try:
        sig = inspect.signature(function)
    except Exception:  # TypeError, ValueError, or student code behind __signature__
        return {"error": "has no readable signature"}
    return {"parameters": [
        {"name": p.name, "kind": p.kind.name,
         "default": repr(p.default) if p.default is not inspect.Parameter.empty else None}
        for p in sig.parameters.values()]}


def main() -> int:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    out = os.fdopen(int(os.environ["SEQLAB_RESULT_FD"]), "w", buffering=1)
    write = out.write
    dumps = json.dumps

    def emit(**event) -> None:
        write(dumps(event) + "\n")
        out.flush()

    # A NumPy-only assignment ("keras": false) skips importing TensorFlow: seconds per grading.
    uses_keras = spec.get("keras", True)
    Model = None
    reseed = _numpy_reseed
    if uses_keras:
        import keras

        Model = keras.Model
        reseed = keras.utils.set_random_seed  # Python, NumPy and the backend's generators
        warm_up(os.getcwd())
    save_array = np.save
    is_instance = builtins.isinstance
    objects = _watch_list(uses_keras)
    before = snapshot(objects)
    module_file = os.path.abspath(spec["module_file"])
    sys.path.insert(0, os.path.dirname(module_file))
    try:
        module_spec = importlib.util.spec_from_file_location(spec["module_name"], module_file)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[spec["module_name"]] = module
        module_spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included
        _, message = describe_error(exc, module_file)
        emit(event="import_error", message=f"{os.path.basename(module_file)} could not be "
                                           f"imported: it {message}")
        return 0
    context = _Context(Model, save_array, is_instance,
                       bound_functions(module, spec["functions"]))
    emit(event="ready", functions=context.functions)
    for task in spec["tasks"]:
        emit(event="start", id=task["id"])
        start = time.perf_counter()
        status, message, data = "ok", "", {}
        try:
            # Every call starts from the same seed, so a model's initial weights (which the
            # worker trains from) and any random draws repeat: the same submission graded
            # twice gets the same score.
            reseed(int(task.get("seed", 0)))
            data = run_task(module, task, context)
        except _Refused as refusal:
            status, message = refusal.status, str(refusal)
        except BaseException as exc:
            status, message = describe_error(exc, module_file)
        tampered = changed(objects, before)  # stays flagged for every later task
        if tampered:
            status = "tampered"
            message = (f"the module changed {', '.join(tampered[:3])}: grading inspects real "
                       "Keras and NumPy objects, so modifying those libraries is not allowed")
        emit(event="done", id=task["id"], status=status, message=message, data=data,
             seconds=time.perf_counter() - start)
    return 0


def _numpy_reseed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)


class _Refused(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def bound_functions(module, names) -> dict:
    """``{name: object}``: the callables the module binds under the contract's ``names``
    right after its import (whatever bound them: a def, an assignment, ``exec``)."""
    found = {}
    for name in names:
        try:
            value = getattr(module, name, None)
        except Exception:  # a module-level __getattr__ of the student's
            continue
        if callable(value):
            found[name] = value
    return found


class _Context:
    """What every task handler may use: the Keras ``Model`` class, ``numpy.save`` and
    ``isinstance`` as they were before the student's module was imported, the contract
    functions bound right after it (``bound``: the objects every task calls) and their
    signatures (``functions``: what the parent judges, so judged and called are one)."""

    def __init__(self, Model, save_array, is_instance, bound):
        self.Model, self.save_array = Model, save_array
        self.is_instance, self.bound = is_instance, bound
        self.functions = {name: signature_of(value) for name, value in bound.items()}


def called_object(module, name: str, context: _Context):
    """The object a task calls for ``name``: the one whose signature was reported, even if
    student code rebound the module's attribute since (None: no callable was bound)."""
    return context.bound.get(name)


def _arguments(task: dict) -> tuple[list, dict]:
    args = [np.load(path, allow_pickle=False) for path in task.get("array_args", [])]
    args += task.get("args", [])
    kwargs = {k: tuple(v) if isinstance(v, list) else v
              for k, v in task.get("kwargs", {}).items()}
    return args, kwargs


def _needs_keras(context: _Context) -> None:
    if context.Model is None:
        raise _Refused("error", "this assignment builds no Keras models")


def _build_model(function, name: str, task: dict, context: _Context) -> dict:
    _needs_keras(context)
    args, kwargs = _arguments(task)
    result = function(*args, **kwargs)
    if not context.is_instance(result, context.Model):
        raise _Refused("wrong_type", f"{name} returned {type(result).__name__}, expected "
                                     "a keras.Model")
    _drop_constant_values(result)
    result.save(task["output"])
    return {"saved": task["output"]}


def _build_models(function, name: str, task: dict, context: _Context) -> dict:
    """e.g. build_seq2seq -> (model, encoder, decoder), each saved."""
    _needs_keras(context)
    args, kwargs = _arguments(task)
    result = function(*args, **kwargs)
    outputs = task["outputs"]
    if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
        raise _Refused("wrong_type", f"{name} returned {type(result).__name__}, expected "
                                     f"a tuple of {len(outputs)} keras.Model")
    for position, (model, path) in enumerate(zip(result, outputs, strict=True)):
        if not context.is_instance(model, context.Model):
            raise _Refused("wrong_type", f"{name} returned {type(model).__name__} at "
                                         f"position {position}, expected a keras.Model")
        _drop_constant_values(model)
        model.save(path)
    return {"saved": outputs}


CONSTANT_LIMIT = 256  # numbers a Constant initializer may keep in the saved config


def _drop_constant_values(model) -> None:
    """Replace every ``Constant`` initializer holding more than ``CONSTANT_LIMIT`` numbers
    (keras.io's ``Embedding(..., embeddings_initializer=Constant(glove_matrix))``) by
    ``Zeros`` before saving: the layer's weights already hold those values, the grader's
    rebuild strips initializers anyway, and the matrix would otherwise fill config.json."""
    import keras

    from seqlab.checks.structure import every_layer  # the checks' walk: wrappers' layers too

    for layer in every_layer(model):
        for key, value in list(vars(layer).items()):
            if key.endswith("_initializer") and isinstance(value, keras.initializers.Constant) \
                    and np.size(value.value) > CONSTANT_LIMIT:
                setattr(layer, key, keras.initializers.Zeros())


def _call_with_objects(function, name: str, task: dict, context: _Context) -> dict:
    """e.g. build_embedding_matrix(vocab, glove) -> a NumPy array."""
    from seqlab.glove import load_glove
    from seqlab.text import Vocabulary

    _, kwargs = _arguments(task)
    result = function(Vocabulary(task["vocab_words"]), load_glove(), **kwargs)
    array = np.asarray(result)
    if array.dtype == object:
        raise _Refused("wrong_type", f"{name} returned {type(result).__name__}, expected "
                                     "a NumPy array of numbers")
    context.save_array(task["output"], array, allow_pickle=False)
    return {"saved": task["output"]}


def _call(function, name: str, task: dict, context: _Context) -> dict:
    """NumPy in, NumPy out: arrays, tuples and dicts of arrays."""
    _, kwargs = _arguments(task)
    inputs = [_load_input(item) for item in task.get("inputs", [])]
    result = function(*inputs, **kwargs, **_generators(task))
    flat: dict[str, np.ndarray] = {}
    structure = flatten(result, "r", flat, name)
    np.savez(task["output"], **flat)
    return {"structure": structure}


def _call_with_models(function, name: str, task: dict, context: _Context) -> dict:
    """e.g. generate(the grader's model, ...): models the trusted worker saved, first."""
    import keras

    models = [keras.saving.load_model(path, safe_mode=True, compile=False)
              for path in task["models"]]
    results, flat = [], {}
    for number, call in enumerate(task["calls"]):
        inputs = [_load_input(item) for item in call.get("inputs", [])]
        result = function(*models, *inputs, **call.get("kwargs", {}), **_generators(call))
        results.append(flatten(result, f"c{number}", flat, name))
    np.savez(task["output"], **flat)
    return {"structure": {"type": "tuple", "items": results}}


# One handler per kind of task (autograder.observe.CHILD_TASKS writes the tasks).
TASKS = {"build_model": _build_model, "build_models": _build_models,
         "call_with_objects": _call_with_objects, "call": _call,
         "call_with_models": _call_with_models}


def run_task(module, task, context: _Context) -> dict:
    """Call one student function as the task says and leave its result in a file."""
    if task["kind"] == "signatures":
        return {"functions": context.functions}
    if task["kind"] not in TASKS:
        raise _Refused("error", f"unknown task kind {task['kind']!r}")
    name = task["function"]
    function = called_object(module, name, context)
    if not callable(function):
        raise _Refused("missing", f"{name} is not defined in the module")
    return TASKS[task["kind"]](function, name, task, context)


def _generators(task: dict) -> dict:
    """``{"rng": numpy.random.default_rng(seed)}`` for a task that passes a generator."""
    if "rng" not in task:
        return {}
    return {task["rng"]["param"]: np.random.default_rng(task["rng"]["seed"])}


def _load_input(item: dict):
    if "npy" in item:
        return np.load(item["npy"], allow_pickle=False)
    if "npz" in item:
        with np.load(item["npz"], allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    return item["value"]


def flatten(value, key: str, flat: dict, function: str, depth: int = 0):
    """Describe ``value`` as JSON and put its arrays in ``flat`` (no pickled objects)."""
    if depth > 3:
        raise _Refused("wrong_type", f"{function} returned values nested too deeply")
    if isinstance(value, (tuple, list)):
        return {"type": "tuple", "items": [flatten(v, f"{key}.{i}", flat, function, depth + 1)
                                           for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Refused("wrong_type", f"{function} returned a dict with non-string keys")
        return {"type": "dict", "items": {k: flatten(v, f"{key}.{k}", flat, function, depth + 1)
                                          for k, v in value.items()}}
    try:
        array = np.asarray(value)
    except Exception:
        array = np.asarray(None, dtype=object)
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise _Refused("wrong_type", f"{function} returned {type(value).__name__}, expected "
                                     "NumPy arrays of numbers")
    flat[key] = array
    return {"type": "array", "key": key}


if __name__ == "__main__":
    sys.exit(main())
