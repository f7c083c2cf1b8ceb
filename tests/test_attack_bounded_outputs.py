"""Outcome 6: bounded everything, and no root child, ever.

Each attack is an ``rnn_numpy`` submission (NumPy only, seconds to grade). The result files
a child leaves are the child's word too: a module can replace NumPy's writer so that its
result is a few-MB zip that inflates to a gigabyte, flood its output, or write files until
the disk is full. The parent must refuse the file before loading it, stay near its own
memory, keep a capped log, and grade the rest.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from autograder import isolation
from autograder.sandbox import SandboxError, ensure_isolation
from tests.attacks import REFERENCE, grade_rnn, points, prepend, write_module

INFLATING_SAVEZ = '''
import numpy.lib._npyio_impl as _npyio
def _bomb(file, args, kwds, compress, allow_pickle=True, pickle_kwargs=None):
    # A valid .npy header declaring 1 GiB of float64, then 1 GiB of zeros, deflated: ~1 MB.
    import numpy, zipfile
    header = numpy.lib.format.header_data_from_array_1_0(numpy.zeros(1, dtype="<f8"))
    header["shape"] = (1 << 27,)
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("r.npy", "w", force_zip64=True) as member:
            numpy.lib.format.write_array_header_1_0(member, header)
            block = bytes(1 << 24)
            for _ in range(64):
                member.write(block)
# Swapping the code keeps the function object, so the child's own tamper watch (the child's
# word, which nothing trusts) sees nothing: only the parent's checks of the file stand.
_npyio._savez.__code__ = _bomb.__code__
'''

FLOOD = '''
import sys as _sys
for _ in range(2000):
    _sys.stdout.write("x" * 50_000 + "\\n")
'''

HUGE_FILE = '''
def _fill():
    with open("out/filler.bin", "wb") as handle:
        for _ in range(64):
            handle.write(bytes(8 << 20))
_fill()
'''


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_an_inflating_result_file_is_refused_before_it_is_loaded(tmp_path):
    before = _max_rss_mb()
    result = grade_rnn(write_module(tmp_path / "bomb", prepend(INFLATING_SAVEZ)),
                       functions=("rnn_forward",))
    grown = _max_rss_mb() - before
    scored = points(result)
    assert all(v == 0 for k, v in scored.items() if k.startswith("rnn_forward")), scored
    text = " ".join(t.message for t in result.tests if t.name.startswith("rnn_forward"))
    assert ("could not be read" in text and "GiB" in text) or "MB" in text, text
    assert grown < 300, f"the parent grew by {grown:.0f} MB reading a child's result file"


def test_flooded_output_is_capped_and_grading_goes_on(tmp_path):
    work = tmp_path / "work"
    result = grade_rnn(write_module(tmp_path / "flood", prepend(FLOOD)),
                       functions=("init_params",), workdir=work)
    assert points(result)["init_params: shapes, float64, seeded"] == 5
    logs = list(work.rglob("child-*.log"))
    assert logs, "no child log was kept"
    biggest = max(log.stat().st_size for log in logs)
    assert biggest < 300_000, f"expected a log capped near 256 KB, got {biggest} bytes"
    assert "more bytes of output dropped" in logs[0].read_text(errors="replace")


@pytest.mark.skipif(isolation.detect().level == "none", reason="file-size cap needs a sandbox")
def test_a_file_past_the_size_cap_fails_only_its_call(tmp_path):
    result = grade_rnn(write_module(tmp_path / "huge", prepend(HUGE_FILE)),
                       functions=("init_params",))
    message = " ".join(t.message for t in result.tests)
    assert all(t.points == 0 for t in result.tests)
    assert "SIGXFSZ" in message or "File too large" in message, message


@pytest.mark.skipif(os.geteuid() != 0, reason="the root policy applies to root only")
def test_root_never_runs_student_code_as_root(tmp_path, monkeypatch):
    check = prepend("import os as _os\nassert _os.getuid() != 0 and _os.geteuid() != 0, "
                    "'running as root'\n")
    result = grade_rnn(write_module(tmp_path / "uid", check), functions=("init_params",))
    assert points(result)["init_params: shapes, float64, seeded"] == 5, result.tests
    monkeypatch.setenv("SEQLAB_ISOLATION", "none")
    isolation.detect.cache_clear()
    try:
        with pytest.raises(SandboxError, match="refusing to run student code as root"):
            ensure_isolation()
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "uid"),
                               "--assignment", "rnn_numpy"], capture_output=True, text=True,
                              env={**os.environ, "SEQLAB_ISOLATION": "none"}, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "refusing to run student code as root" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        monkeypatch.delenv("SEQLAB_ISOLATION")
        isolation.detect.cache_clear()


def test_unmodified_reference_is_graded_as_before(tmp_path):
    result = grade_rnn(write_module(tmp_path / "ref", REFERENCE), functions=("init_params",))
    assert points(result)["init_params: shapes, float64, seeded"] == 5


DISK_FILLER = '''
def _fill():
    import os
    os.makedirs("out/fill", exist_ok=True)
    for number in range(40):  # 40 x 200 MB, each under the file-size cap
        with open(f"out/fill/{number}.bin", "wb") as handle:
            for _ in range(25):
                handle.write(os.urandom(8 << 20))
_fill()
'''


@pytest.mark.slow
def test_filling_the_disk_stops_the_call_with_a_clear_message(tmp_path):
    result = grade_rnn(write_module(tmp_path / "filler", prepend(DISK_FILLER)),
                       functions=("init_params",), case_timeout=120)
    message = " ".join(t.message for t in result.tests)
    assert all(t.points == 0 for t in result.tests)
    assert "MB to disk" in message, message
