"""Generate the public checks' fixtures from the reference solutions (teacher's repo only).

    python -m seqlab.checks.make_fixtures            # write seqlab/checks/fixtures/
    python -m seqlab.checks.make_fixtures --check    # exit 1 if they are out of date

For each assignment it draws a few fixed small inputs (seeded), runs the reference module in
``solutions/`` on them (or, for the gated cells, real Keras layers) and stores inputs and
outputs as ``fixtures/<assignment>.npz`` (arrays) and ``.json`` (lists, numbers). This module
reads ``solutions/``; the student release leaves it out and ships only the fixtures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from seqlab.checks.fixture_data import FIXTURES_DIR
from seqlab.student import student_module

ASSIGNMENT_ORDER = ("rnn_numpy", "cells", "char_lm", "seq2seq", "captioning")
FLOAT_TOLERANCE = 1e-9   # the sync test's tolerance: BLAS may differ in the last bits


def reference(name: str):
    """The reference module ``solutions/<name>.py``."""
    return student_module(name, "solutions")


def _rnn_params(rng: np.random.Generator, q: int, r: int, s: int, radius: float) -> dict:
    """Random weights, nonzero biases, ``W_hh`` scaled to spectral radius ``radius``."""
    w_hh = rng.normal(size=(r, r))
    w_hh *= radius / np.max(np.abs(np.linalg.eigvals(w_hh)))
    return {"W_hx": rng.normal(0, 0.8, size=(r, q)), "W_hh": w_hh,
            "b_h": rng.normal(0, 0.2, size=r), "W_y": rng.normal(0, 0.8, size=(s, r)),
            "b_y": rng.normal(0, 0.2, size=s)}


def _put(out: dict, prefix: str, values: dict) -> None:
    out.update({f"{prefix}.{k}": np.asarray(v) for k, v in values.items()})


def rnn_numpy() -> tuple[dict, dict]:
    """Forward, loss and gradient, clipping and Jacobian fixtures of ``rnn_numpy``."""
    ref, rng, out = reference("rnn_numpy"), np.random.default_rng(14), {}
    for case, (q, r, s, batch, steps) in {"forward": (4, 6, 5, 3, 7),
                                          "forward_one": (2, 3, 2, 1, 1)}.items():
        params, x = _rnn_params(rng, q, r, s, 1.1), rng.normal(size=(batch, steps, q))
        h, logits = ref.rnn_forward(params, x)
        _put(out, f"{case}.params", params)
        _put(out, case, {"x": x, "h": h, "logits": logits})
    params, x = _rnn_params(rng, 3, 4, 5, 1.0), rng.normal(size=(2, 6, 3))
    targets = rng.integers(0, 5, size=(2, 6))
    loss, grads = ref.rnn_loss_and_grads(params, x, targets)
    _put(out, "loss.params", params)
    _put(out, "loss", {"x": x, "targets": targets, "loss": loss})
    _put(out, "loss.grads", grads)
    big = {k: v * 2.0 for k, v in _rnn_params(rng, 4, 6, 5, 1.0).items()}
    for case, grads in (("clip_big", big), ("clip_small", {k: v * 0.01 for k, v in big.items()})):
        _put(out, f"{case}.grads", grads)
        _put(out, f"{case}.clipped", ref.clip_by_global_norm(grads, 5.0))
        out[f"{case}.max_norm"] = np.asarray(5.0)
    params, x = _rnn_params(rng, 4, 6, 5, 1.6), rng.normal(size=(10, 4)) * 0.5
    _put(out, "jacobian.params", params)
    _put(out, "jacobian", {"x": x, "norms": ref.state_jacobian_norms(params, x)})
    return out, {}


def _keras_run(layer_class, weights: list, x: np.ndarray, state: list | None) -> list:
    """Run a real Keras LSTM/GRU with ``weights`` on ``x (batch, T, d)``: [outputs, *states]."""
    import keras

    units = weights[1].shape[0]
    layer = layer_class(units, return_sequences=True, return_state=True)
    layer.build((None, None, x.shape[-1]))
    layer.set_weights(weights)
    initial = None if state is None else [s.astype("float32") for s in state]
    out = layer(x.astype("float32"), initial_state=initial)
    return [keras.ops.convert_to_numpy(o).astype(np.float64) for o in out]


def cells() -> tuple[dict, dict]:
    """The gated cells' outputs recorded from keras.layers.LSTM and GRU (no solution code)."""
    import keras

    rng, out, d, u, batch = np.random.default_rng(2), {}, 3, 4, 2
    for name, layer_class, blocks in (("lstm", keras.layers.LSTM, 4), ("gru", keras.layers.GRU, 3)):
        bias_shape = (blocks * u,) if name == "lstm" else (2, blocks * u)
        weights = [rng.normal(0, 0.6, size=(d, blocks * u)),
                   rng.normal(0, 0.6, size=(u, blocks * u)), rng.normal(0, 0.3, size=bias_shape)]
        weights = [w.astype(np.float32).astype(np.float64) for w in weights]
        named = dict(zip(("kernel", "recurrent_kernel", "bias"), weights, strict=True))
        x_t = rng.normal(size=(batch, d))
        state = [rng.normal(0, 0.5, size=(batch, u)) for _ in range(2 if name == "lstm" else 1)]
        stepped = _keras_run(layer_class, weights, x_t[:, None], state)
        step = {"x_t": x_t, "h_prev": state[0], "h": stepped[1], **named}
        if name == "lstm":
            step.update(c_prev=state[1], c=stepped[2])
        _put(out, f"{name}_step", step)
        x = rng.normal(size=(batch, 5, d))
        run = _keras_run(layer_class, weights, x, None)
        sequence = {"x": x, "outputs": run[0], **named}
        if name == "lstm":
            sequence["c_last"] = run[2]
        _put(out, f"{name}_sequence", sequence)
    _put(out, "gru_state_jacobian", _gru_jacobian())
    return out, {}


def _gru_jacobian(eps: float = 1e-5) -> dict:
    """dh/dh_prev of one step of a float64 ``keras.layers.GRU``, by central differences.

    Entry ``[b, i, j] = dh[b, i] / dh_prev[b, j]``, accurate to about 1e-10 (float64, step
    ``eps``); every perturbed state is one row of a single batch. Also recorded, for the
    check's hints: the update gate z (the diagonal the keep path adds) and the reset-gate path
    ``diag((1 - z)(1 - n^2) m r (1 - r)) U_r^T``, written out here in NumPy.
    """
    import keras

    rng, d, u, batch = np.random.default_rng(12), 3, 4, 2
    weights = [rng.normal(0, 0.8, size=(d, 3 * u)), rng.normal(0, 0.8, size=(u, 3 * u)),
               rng.normal(0, 0.4, size=(2, 3 * u))]
    x_t, h_prev = rng.normal(size=(batch, d)), rng.normal(0, 0.6, size=(batch, u))
    layer = keras.layers.GRU(u, dtype="float64")
    layer.build((None, None, d))
    layer.set_weights(weights)
    shifts = eps * np.eye(u)
    states = np.concatenate([h_prev[:, None] + shifts, h_prev[:, None] - shifts], axis=1)
    moved = layer(np.repeat(x_t, 2 * u, axis=0)[:, None], initial_state=[states.reshape(-1, u)])
    moved = keras.ops.convert_to_numpy(moved).astype(np.float64).reshape(batch, 2, u, u)
    jacobian = np.swapaxes(moved[:, 0] - moved[:, 1], 1, 2) / (2 * eps)   # [b, i, j]
    kernel, recurrent, bias = weights
    inputs, state = x_t @ kernel + bias[0], h_prev @ recurrent + bias[1]
    z, r = (1 / (1 + np.exp(-(inputs[:, k * u:(k + 1) * u] + state[:, k * u:(k + 1) * u])))
            for k in range(2))
    n = np.tanh(inputs[:, 2 * u:] + r * state[:, 2 * u:])
    through_reset = (1 - z) * (1 - n ** 2) * state[:, 2 * u:] * r * (1 - r)
    reset_path = through_reset[:, :, None] * recurrent[:, u:2 * u].T[None]
    return {"x_t": x_t, "h_prev": h_prev, "kernel": kernel, "recurrent_kernel": recurrent,
            "bias": bias, "jacobian": jacobian, "z": z, "reset_path": reset_path}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def char_lm() -> tuple[dict, dict]:
    """batchify/get_batch outputs, sampling probabilities, generate's argmax continuation."""
    from seqlab.checks import char_lm as checks

    ref, rng, out = reference("char_lm"), np.random.default_rng(6), {}
    for case, (n, batch) in (("batchify", (23, 4)), ("batchify_exact", (8, 2))):
        data = rng.integers(0, 50, size=n)
        _put(out, case, {"data": data, "batch_size": batch, "out": ref.batchify(data, batch)})
    source = ref.batchify(rng.integers(0, 50, size=30), 3)
    out["get_batch.source"] = source
    for case, (i, bptt) in (("get_batch_first", (0, 4)), ("get_batch_last", (8, 4))):
        x, y = ref.get_batch(source, i, bptt)
        _put(out, case, {"i": i, "bptt": bptt, "x": x, "y": y})
    logits, temperatures = np.array([2.0, 1.0, 0.5, 0.0, -1.0, 1.5]), np.array([0.5, 1.0, 2.0])
    small = rng.normal(size=(5, 7))
    _put(out, "sample", {"logits": logits, "temperatures": temperatures,
                         "probs": np.stack([_softmax(logits / t) for t in temperatures]),
                         "small": small, "argmax": np.argmax(small, axis=-1)})
    greedy = ref.generate(checks.probe_lm(), list(checks.PRIME), checks.LENGTH, 0.0)
    return out, {"generate_greedy": [int(i) for i in greedy]}


def seq2seq() -> tuple[dict, dict]:
    """greedy_decode's and beam_search_decode's ids on the checks' own small encoder and
    decoder."""
    from seqlab.checks import seq2seq as checks

    encoder, decoder = checks.probe_models()
    ref, source = reference("seq2seq"), checks.probe_source()

    def plain(rows):
        return [[int(i) for i in row] for row in rows]

    ids = ref.greedy_decode(encoder, decoder, source, **checks.DECODE)
    beams = {str(width): plain(ref.beam_search_decode(encoder, decoder, source,
                                                      **checks.BEAM_DECODE, beam_width=width))
             for width in checks.BEAM_WIDTHS}
    return {}, {"greedy_decode": plain(ids), "beam_search_decode": beams}


def captioning() -> tuple[dict, dict]:
    """greedy_captions' and beam_search_captions' ids on the checks' own small models."""
    from seqlab.checks import captioning as checks

    encoder, decoder = checks.probe_models()
    ref, images = reference("captioning"), checks.probe_images()

    def plain(rows):
        return [[int(i) for i in row] for row in rows]

    beams = {str(width): plain(ref.beam_search_captions(encoder, decoder, images,
                                                        **checks.DECODE, beam_width=width))
             for width in checks.BEAM_WIDTHS}
    greedy = plain(ref.greedy_captions(encoder, decoder, images, **checks.DECODE))
    return {}, {"greedy_captions": greedy, "beam_search_captions": beams}


BUILDERS = {"rnn_numpy": rnn_numpy, "cells": cells, "char_lm": char_lm, "seq2seq": seq2seq,
            "captioning": captioning}


def build(assignment: str) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, json values)`` of one assignment's fixtures, freshly computed."""
    return BUILDERS[assignment]()


def write(folder: Path = FIXTURES_DIR, assignments=None) -> list[Path]:
    """Write the fixtures of ``assignments`` (all by default) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in assignments or BUILDERS:
        arrays, values = build(name)
        if arrays:
            np.savez_compressed(folder / f"{name}.npz", **arrays)
            written.append(folder / f"{name}.npz")
        if values:
            path = folder / f"{name}.json"
            path.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
            written.append(path)
    return written


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind == "f":
        return bool(np.allclose(a, b, rtol=FLOAT_TOLERANCE, atol=FLOAT_TOLERANCE))
    return bool(np.array_equal(a, b))


def differences(committed: Path, fresh: Path) -> list[str]:
    """What differs between two fixture folders: one line per file or key."""
    problems = []
    for path in sorted(fresh.iterdir()):
        old = committed / path.name
        if not old.exists():
            problems.append(f"{path.name}: missing")
        elif path.suffix == ".json":
            if json.loads(old.read_text()) != json.loads(path.read_text()):
                problems.append(f"{path.name}: values differ")
        else:
            with np.load(old) as a, np.load(path) as b:
                keys = set(a.files) ^ set(b.files)
                keys |= {k for k in set(a.files) & set(b.files) if not _same(a[k], b[k])}
            problems += [f"{path.name}: {key} differs" for key in sorted(keys)]
    stale = {p.name for p in committed.iterdir() if p.suffix in (".npz", ".json")}
    stale -= {p.name for p in fresh.iterdir()}
    problems += [f"{name}: no longer generated" for name in sorted(stale)]
    return problems


def out_of_sync(folder: Path = FIXTURES_DIR) -> list[str]:
    """The differences between ``folder`` and what the reference would generate now."""
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        return differences(folder, Path(tmp))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.checks.make_fixtures",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the fixtures are stale")
    parser.add_argument("--out", type=Path, default=FIXTURES_DIR, help="fixture folder")
    args = parser.parse_args(argv)
    if args.check:
        problems = out_of_sync(args.out)
        for line in problems:
            print(f"out of date: {line}")
        print("fixtures are up to date" if not problems else
              "run `python -m seqlab.checks.make_fixtures` to regenerate them")
        return 1 if problems else 0
    for path in write(args.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
