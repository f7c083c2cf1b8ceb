"""The autograder against the reference, the starter and purpose-built wrong or hostile modules.

Wrong modules are made from the reference by small source edits, so each one differs from
a correct submission in exactly the way its name says. Several independent faults share one
submission where they hit different functions, to keep the suite fast.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grader import grade
from autograder.report import results_json, write_json
from autograder.sandbox import Limits
from tests.submissions import is_question

REPO = Path(__file__).resolve().parent.parent
REFERENCE = (REPO / "solutions" / "sentiment.py").read_text()
STRUCTURE = ("build_rnn_classifier", "build_cnn_classifier", "build_embedding_matrix")


def _submission(tmp_path, source: str, name="sentiment.py") -> Path:
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / name).write_text(source)
    return folder


def _edit(*pairs) -> str:
    source = REFERENCE
    for old, new in pairs:
        assert old in source, f"the reference changed: {old!r} not found"
        source = source.replace(old, new, 1)
    return source


def _by_name(result):
    return {t.name: t for t in result.tests}


def _test(result, prefix):
    matches = [t for t in result.tests if t.name.startswith(prefix)]
    assert len(matches) == 1, f"{prefix!r} matched {[t.name for t in matches]}"
    return matches[0]


def _grade(path, **kwargs):
    kwargs.setdefault("functions", STRUCTURE)
    kwargs.setdefault("public_only", True)  # no accuracy training: these test structure
    kwargs.setdefault("case_timeout", 30)
    return grade(path, **kwargs)


@pytest.fixture(scope="module")
def reference():
    return grade(REPO / "solutions")


@pytest.mark.slow
def test_reference_gets_full_marks_and_skips_what_it_cannot_check(reference):
    failures = [(t.name, t.message) for t in reference.tests
                if t.status not in ("passed", "skipped", "ungraded")]  # written questions
    assert not failures
    assert reference.score == reference.max_score >= 90
    gpu = _test(reference, "GPU")
    assert gpu.status == "skipped" and gpu.max_points == 0 and "no GPU" in gpu.message
    accuracy = _test(reference, "accuracy: GRU")
    assert accuracy.status == "passed" and "holdout accuracy" in accuracy.message


@pytest.mark.slow
def test_grading_is_deterministic(reference):
    again = grade(REPO / "solutions", functions=("build_rnn_classifier",))
    first = {t.name: t.points for t in reference.tests}
    for test in again.tests:
        assert test.points == first[test.name], test.name


@pytest.mark.slow
def test_results_json_follows_gradescope_schema(reference, tmp_path):
    path = write_json(reference, tmp_path / "results.json")
    data = json.loads(path.read_text())
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test)
        assert test.get("status", "passed") in ("passed", "failed")
        if test["name"].startswith("[skipped]"):
            assert "status" not in test and test["max_score"] == 0


@pytest.mark.slow
def test_starter_scores_zero_with_not_implemented_messages():
    result = _grade(REPO / "starter")
    assert result.score == 0
    for test in result.tests:
        assert "not implemented yet" in test.message, (test.name, test.message)
        assert "Traceback" not in test.message


@pytest.mark.slow
def test_structural_mistakes_each_lose_their_points(tmp_path):
    source = _edit(
        # always-LSTM, with recurrent dropout
        ('layer_class = {"rnn": keras.layers.SimpleRNN, "gru": keras.layers.GRU,\n'
         '                   "lstm": keras.layers.LSTM}[cell]',
         "layer_class = keras.layers.LSTM"),
        ("recurrent = layer_class(units, name=cell)",
         "recurrent = layer_class(units, name=cell, recurrent_dropout=0.2)"),
        # one region size only
        ("for size in filter_sizes:", "for size in filter_sizes[:1]:"),
        # the padding row is not zeroed
        ("    matrix[0] = 0.0\n", ""),
    )
    result = _grade(_submission(tmp_path, source))
    kinds = _test(result, "build_rnn_classifier: the requested").message
    assert "expected SimpleRNN, got LSTM" in kinds
    assert _test(result, "build_rnn_classifier: parameter").status == "failed"
    assert "recurrent_dropout" in _test(result, "build_rnn_classifier: recurrent layers").message
    cnn = _test(result, "build_cnn_classifier: one Conv1D")
    assert cnn.status == "failed" and "expected one Conv1D per region size" in cnn.message
    assert "row 0" in _test(result, "build_embedding_matrix").message
    assert _test(result, "build_cnn_classifier: output").status == "passed"


@pytest.mark.slow
def test_softmax_two_units_and_ignored_frozen_flag(tmp_path):
    source = _edit(
        ('outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)\n'
         '    model = keras.Model(inputs, outputs, name=f"{',
         'outputs = keras.layers.Dense(2, activation="softmax", name="output")(x)\n'
         '    model = keras.Model(inputs, outputs, name=f"{'),
        ("embedding = keras.layers.Embedding(vocab_size, dim, trainable=trainable_embeddings,\n"
         '                                       name="embedding")\n'
         "    x = embedding(inputs)                                      # (batch, T, d)\n"
         "    pooled",
         'embedding = keras.layers.Embedding(vocab_size, dim, trainable=False, name="embedding")\n'
         "    x = embedding(inputs)\n    pooled"),
    )
    result = _grade(_submission(tmp_path, source))
    shape = _test(result, "build_rnn_classifier: output")
    assert shape.status == "failed" and "expected output shape (1, 1), got (1, 2)" in shape.message
    assert _test(result, "build_rnn_classifier: compiled").status == "failed"
    frozen = _test(result, "build_cnn_classifier: embedding")
    assert "expected the embedding to be trainable, got frozen" in frozen.message
    assert _test(result, "build_cnn_classifier: one Conv1D").status == "passed"


@pytest.mark.slow
def test_hang_exit_and_memory_bomb_cost_only_their_checks(tmp_path):
    source = _edit(
        ('    if cell not in CELLS:', '    while True:\n        pass\n    if cell not in CELLS:'),
        ("    vocab_size, dim = embedding_matrix.shape\n    inputs = keras.Input(shape=(None,), "
         'dtype="int32", name="token_ids")\n    embedding = keras.layers.Embedding(vocab_size, '
         "dim, trainable=trainable_embeddings,\n                                       name="
         '"embedding")\n    x = embedding(inputs)                                      # (batch'
         ", T, d)\n    pooled",
         "    import sys\n    sys.exit(3)\n    pooled"),
        ("    rng = np.random.default_rng(seed)\n",
         "    hog = bytearray(64 * 2**30)\n    rng = np.random.default_rng(seed)\n"),
    )
    result = _grade(_submission(tmp_path, source), case_timeout=8,
                    limits=Limits(memory_bytes=6 << 30))
    hang = _test(result, "build_rnn_classifier: output")
    assert hang.status == "failed" and "did not finish within 8 s" in hang.message
    assert "called sys.exit(3)" in _test(result, "build_cnn_classifier: output").message
    assert "ran out of memory" in _test(result, "build_embedding_matrix").message
    assert result.score == 0


@pytest.mark.slow
def test_os_exit_non_keras_object_and_forged_results(tmp_path):
    source = _edit(
        ('    if cell not in CELLS:', '    import os\n    os._exit(7)\n    if cell not in CELLS:'),
        ('    # BEGIN SOLUTION hint: Embedding, a Conv1D',
         '    return "a model, honestly"\n    # BEGIN SOLUTION hint: Embedding, a Conv1D'),
    ) + ("\nimport json as _json, pathlib as _pathlib\n"
         "for _folder in (_pathlib.Path.cwd(), *_pathlib.Path.cwd().parents):\n"
         "    try:\n"
         "        (_folder / 'results.json').write_text(_json.dumps({'score': 100}))\n"
         "    except OSError:\n"
         "        pass\n")
    out = tmp_path / "out" / "results.json"
    result = _grade(_submission(tmp_path, source))
    write_json(result, out)
    assert json.loads(out.read_text())["score"] == result.score < 100
    crashed = _test(result, "build_rnn_classifier: output")
    assert "exited with status 7" in crashed.message
    wrong = _test(result, "build_cnn_classifier: output")
    assert "returned str, expected a keras.Model" in wrong.message
    assert _test(result, "build_embedding_matrix").status == "passed"


@pytest.mark.slow
def test_monkeypatching_keras_or_numpy_is_caught(tmp_path):
    source = REFERENCE + ("\nkeras.Model.count_params = lambda self: 0\n"
                          "np.array_equal = lambda *args, **kwargs: True\n")
    result = _grade(_submission(tmp_path, source), functions=("build_rnn_classifier",))
    for test in result.tests:
        if test.name.startswith("build_rnn_classifier"):
            assert test.status == "failed" and "modifying those libraries" in test.message


@pytest.mark.slow
def test_import_problems_fail_every_check_with_one_clear_message(tmp_path):
    broken = _grade(_submission(tmp_path, REFERENCE + "\ndef oops(:\n"))
    assert broken.score == 0
    assert all("could not be imported" in t.message and "SyntaxError" in t.message
               for t in broken.tests)
    hang_dir = tmp_path / "hang"
    hang_dir.mkdir()
    (hang_dir / "sentiment.py").write_text("while True:\n    pass\n")
    hung = _grade(hang_dir, limits=Limits(import_timeout=10))
    assert hung.score == 0 and "importing the module took longer than 10 s" in \
        hung.tests[0].message


@pytest.mark.slow
def test_constant_output_model_gets_no_accuracy_credit(tmp_path):
    # The grader retrains every layer from its own initialisation, so freezing a zeroed
    # output layer no longer makes a model constant; a built-in layer that zeroes the
    # features does (same parameters as the contract, prediction independent of the review).
    source = _edit(('outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)\n'
                    '    model = keras.Model(inputs, outputs, name="cnn_classifier")',
                    'x = keras.layers.Rescaling(0.0)(x)\n'
                    '    outputs = keras.layers.Dense(1, activation="sigmoid", name="output")(x)\n'
                    '    model = keras.Model(inputs, outputs, name="cnn_classifier")'))
    result = grade(_submission(tmp_path, source), functions=("build_cnn_classifier",))
    accuracy = _test(result, "accuracy: Kim CNN")
    assert accuracy.points == 0 and "holdout accuracy 0.5" in accuracy.message


def test_missing_assignment_file_scores_zero(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    result = grade(folder, assignment="sentiment")
    assert result.score == 0 and result.tests
    counted = [t for t in result.tests if t.status != "skipped"  # e.g. no GPU here
               and not is_question(t)]  # the labs' questions: "not answered" (no answers.json)
    assert counted and all(t.message == "sentiment.py was not submitted" for t in counted)


def test_cli_reports_unreadable_submission_without_traceback(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(bad)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "neither a folder nor a .zip" in run.stderr


def test_results_json_marks_skipped_tests_as_not_counted():
    from autograder.grader import GradeResult, TestResult

    result = GradeResult("x", "quick", [
        TestResult("sentiment", "a", 2, 2, "passed", "", "visible"),
        TestResult("sentiment", "gpu", 0, 0, "skipped", "no GPU", "visible"),
        TestResult("sentiment", "b", 1, 4, "partial", "half", "visible")])
    data = results_json(result)
    assert data["score"] == 3
    assert [t.get("status") for t in data["tests"]] == ["passed", None, "failed"]


def test_table_prints_student_text_literally_never_as_markup():
    from rich.console import Console

    from autograder.grader import GradeResult, TestResult
    from autograder.report import print_table

    console = Console(width=200, record=True, color_system=None)
    message = "got 'a[/]b' and [bold]x[/bold] from the module"  # unbalanced markup included
    print_table(GradeResult("[red]alice[/red]", "quick", [
        TestResult("sentiment", "a", 0, 2, "failed", message, "visible")]), console)
    text = console.export_text()
    assert "[red]alice[/red]" in text and "a[/]b" in text and "[bold]x[/bold]" in text


def test_zip_submission_keeps_only_module_files_and_never_writes_outside(tmp_path):
    import zipfile

    from autograder.submission import RefusedSubmission, resolve

    archive = tmp_path / "student.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("homework/sentiment.py", "x = 1\n")
        zf.writestr("homework/notes.txt", "hi")
        zf.writestr("__MACOSX/._sentiment.py", "junk")
        zf.writestr("homework/model.keras", b"not really a model")
    submission = resolve(archive, tmp_path / "clean")
    assert submission.files == ("model.keras", "sentiment.py")
    assert (tmp_path / "clean" / "sentiment.py").read_text() == "x = 1\n"
    assert "homework/notes.txt" in submission.ignored
    # A member climbing out of the folder is refused in one sentence, and nothing is written.
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("../../escape/sentiment.py", "x = 2\n")
    with pytest.raises(RefusedSubmission, match="parent-folder path"):
        resolve(archive, tmp_path / "clean2")
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.slow
def test_lambda_layers_are_refused_with_a_clear_message(tmp_path):
    source = _edit(("    x = keras.layers.Dropout(dropout, name=\"dropout\")(x)",
                    "    x = keras.layers.Lambda(lambda t: t * 1.0)(x)\n"
                    "    x = keras.layers.Dropout(dropout, name=\"dropout\")(x)"))
    result = _grade(_submission(tmp_path, source), functions=("build_cnn_classifier",))
    test = _test(result, "build_cnn_classifier: output")
    # The rule, in one sentence (not Keras' advice on trusting the file: safe_mode=False).
    assert test.status == "failed" and "it uses Lambda" in test.message
    assert "no Lambda layers, no subclassed layers or models" in test.message
    assert "safe_mode" not in test.message


def test_run_report_check_needs_a_gpu_and_matching_weights():
    from types import SimpleNamespace

    from autograder.assignments.sentiment import run_report

    obs = SimpleNamespace(submitted={})
    assert run_report(obs).status == "skipped"
    obs.submitted = {"report": {"device": {"platform": "cpu", "name": "CPU"}},
                     "model_sha256": "ab" * 32}
    assert "expected the run report to name a GPU" in run_report(obs).message
    obs.submitted["report"] = {"device": {"platform": "gpu", "name": "Tesla T4"},
                               "weights_sha256": "cd" * 32}
    assert "match model.keras" in run_report(obs).message
    obs.submitted["report"]["weights_sha256"] = "ab" * 32
    obs.profile = "quick"  # a matching report is re-measured with --profile full only
    assert run_report(obs).status == "skipped"  # (tests/test_self_reports.py)




@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="a fresh uid per grading needs root")
def test_child_without_privileges_cannot_read_grader_files(tmp_path):
    secret = tmp_path / "holdout_labels.csv"
    secret.write_text("1,0,1")
    secret.chmod(0o600)
    source = _edit(("    if cell not in CELLS:",
                    "    try:\n"
                    f"        leaked = open({str(secret)!r}).read()\n"
                    "    except OSError:  # unreadable (fresh uid) or absent (bubblewrap)\n"
                    "        raise RuntimeError('the holdout is protected') from None\n"
                    "    raise RuntimeError('leaked ' + leaked)\n"
                    "    if cell not in CELLS:"))
    result = _grade(_submission(tmp_path, source))
    assert "the holdout is protected" in _test(result, "build_rnn_classifier: output").message
    assert _test(result, "build_cnn_classifier: output").status == "passed"


@pytest.mark.slow
def test_student_code_has_no_network(tmp_path):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    source = _edit(("    if cell not in CELLS:",
                    "    import socket\n"
                    "    try:\n"
                    f"        socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                    "    except OSError as err:\n"
                    "        raise RuntimeError(f'network closed ({err})') from None\n"
                    "    raise RuntimeError('network open')\n"
                    "    if cell not in CELLS:"))
    try:
        result = _grade(_submission(tmp_path, source), functions=("build_rnn_classifier",))
    finally:
        server.close()
    assert "network closed" in _test(result, "build_rnn_classifier: output").message


def test_worker_results_are_reused_only_for_identical_content(tmp_path):
    """The batch cache key: the same model saved by two processes matches (save date and
    object ids aside); one changed weight, recipe value or thread count does not."""
    from autograder.worker_cache import _task_key

    script = ("import sys, keras, numpy as np; sys.path.insert(0, sys.argv[2]); "
              "import sentiment; keras.utils.set_random_seed(0); "
              "m = sentiment.build_cnn_classifier(np.ones((30, 4), 'float32'), "
              "filter_sizes=(2,), num_filters=3); "
              "m.layers[-1].kernel.assign(m.layers[-1].kernel * float(sys.argv[3])); "
              "m.save(sys.argv[1])")
    paths = {}
    for name, scale in (("a", 1), ("b", 1), ("c", 2)):
        paths[name] = tmp_path / f"{name}.keras"
        subprocess.run([sys.executable, "-c", script, str(paths[name]),
                        str(REPO / "solutions"), str(scale)], check=True, capture_output=True)

    def key(name, recipe=1, threads=2):
        return _task_key({"id": name, "kind": "train", "model": str(paths[name]),
                          "recipe": {"epochs": recipe}, "timeout": 9}, threads)

    assert paths["a"].read_bytes() != paths["b"].read_bytes()  # the save date differs
    assert key("a") == key("b") is not None
    assert key("c") != key("a")
    assert key("a", recipe=2) != key("a") and key("a", threads=1) != key("a")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    paths["bad"] = tmp_path / "bad.keras"
    assert key("bad") is None


@pytest.mark.slow
def test_submitted_model_is_scored_on_the_full_holdout(tmp_path):
    """--profile full: a submitted model.keras runs on the full IMDB test split in the
    worker and the parent scores it against the calibrated full band."""
    from autograder.assignments import load_assignment
    from autograder.assignments.sentiment import submitted_model
    from autograder.observe import observe
    from autograder.submission import resolve

    script = ("import sys, keras; keras.utils.set_random_seed(0); "
              "i = keras.Input(shape=(None,), dtype='int32'); "
              "h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(30000, 4)(i)); "
              "o = keras.layers.Dense(int(sys.argv[2]), activation='sigmoid')(h); "
              "keras.Model(i, o).save(sys.argv[1])")
    spec = load_assignment("sentiment")
    outcomes = {}
    for units in (1, 2):
        folder = tmp_path / f"units{units}"
        folder.mkdir()
        (folder / "sentiment.py").write_text((REPO / "solutions" / "sentiment.py").read_text())
        subprocess.run([sys.executable, "-c", script, str(folder / "model.keras"), str(units)],
                       check=True, capture_output=True)
        root = tmp_path / f"root{units}"
        submission = resolve(folder, root / "submission")
        obs, _, _ = observe(spec, submission, root, {"submitted_model": 300.0},
                            limits=Limits(), profile="full")
        outcomes[units] = submitted_model(obs)
    untrained = outcomes[1]
    assert untrained.status == "failed" and untrained.fraction == 0
    assert "holdout accuracy 0." in untrained.message and "IMDB reviews" in untrained.message
    assert "full credit at 0.853" in untrained.message
    assert "expected one probability per review" in outcomes[2].message
