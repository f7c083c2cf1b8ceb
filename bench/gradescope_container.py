"""run_autograder inside a container sized like Gradescope's: peak memory, wall time, kills.

    python bench/gradescope_container.py   # every assignment, both settings
    python bench/gradescope_container.py --assignments sentiment --settings default
    python bench/gradescope_container.py --record   # bench/results/gradescope_container.*

Needs root and cgroup v1 ``memory`` and ``cpu`` controllers (mounted on the kit's CI
machines). For each assignment it builds the Gradescope bundle with the TA's command, lays
out a fake ``/autograder`` root (``source/`` from the zip, ``submission/`` with the reference
module from ``solutions/`` and its ``answers.json``), creates a memory cgroup
(``memory.limit_in_bytes`` and, where present, ``memory.memsw.limit_in_bytes``: no swap
beyond the limit) and a cpu cgroup
(``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: 50000 / 100000 is 0.5 vCPU), and runs the
bundle's real ``run_autograder`` in both: the shell's pid is written to their
``cgroup.procs`` before it execs, so everything it starts (the grader, bubblewrap, the
sandboxed child and worker) is counted. Each row reports wall seconds, the cgroup's peak
memory (``memory.max_usage_in_bytes``: it includes page cache the process reads, which the
kernel reclaims before it kills), how often the limit was hit (``memory.failcnt``), how many
processes the kernel's OOM killer killed (``oom_kill`` in ``memory.oom_control``), the score
out of the maximum, and the tests that got the grader's own ``grader_error`` status.

Settings are ``NAME=VCPU:MEGABYTES``; ``default`` is Gradescope's default container
(0.5 vCPU, 768 MB), ``recommended`` 1.0 vCPU and 1.5 GB (what the README recommends where
the default is tight). ``--submission DIR`` grades other files (e.g. with a ``model.keras``),
``--holdout FILE`` builds the bundle with a private holdout (full profile), ``--source DIR``
builds it from another checkout (``git archive`` of an older commit, for a before/after).
The machine is shared: the load average before and after every row is recorded with it, and
wall times on a loaded machine are upper bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import print_table, record  # noqa: E402

ASSIGNMENTS = ("rnn_numpy", "cells", "sentiment", "char_lm", "seq2seq")
SETTINGS = {"default": (0.5, 768), "recommended": (1.0, 1536)}
COLUMNS = ["assignment", "setting", "vCPU", "memory MB", "wall s", "peak MB", "peak anon MB",
           "limit hits", "OOM kills", "score", "grader_error tests", "finished", "load before",
           "load after"]
CGROUP = Path("/sys/fs/cgroup")
# Gradescope's /autograder, at a fixed place so that the bench's interpreter can have the
# bundle's source on its path the way `pip install -e /autograder/source` does in setup.sh.
ROOT = Path(tempfile.gettempdir()) / "seqlab-gradescope-bench" / "autograder"
VENV = REPO / ".cache" / "gradescope-venv"
PERIOD_US = 100_000


def _own_cgroup(controller: str) -> Path:
    """This process's cgroup of ``controller`` (v1), where the bench's cgroups are nested."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return CGROUP / controller / path.lstrip("/")
    return CGROUP / controller


class Container:
    """A memory and a cpu cgroup (v1) with Gradescope-like limits; removed on exit."""

    def __init__(self, name: str, vcpu: float, megabytes: int):
        self.memory = _own_cgroup("memory") / name
        self.cpu = _own_cgroup("cpu") / name
        for folder in (self.memory, self.cpu):
            if folder.exists():
                folder.rmdir()
            folder.mkdir()
        limit = str(megabytes << 20)
        (self.memory / "memory.limit_in_bytes").write_text(limit)
        memsw = self.memory / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            memsw.write_text(limit)
        (self.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.cpu / "cpu.cfs_quota_us").write_text(str(int(vcpu * PERIOD_US)))

    def enter(self) -> None:
        """Move the calling process into both cgroups (from a preexec_fn: before exec)."""
        pid = str(os.getpid())
        for folder in (self.memory, self.cpu):
            with open(folder / "cgroup.procs", "w") as handle:
                handle.write(pid)

    def watch(self, stop: threading.Event, peaks: dict) -> None:
        """Sample ``memory.stat`` until ``stop``: the largest anonymous memory (``rss``:
        what the kernel cannot reclaim without killing, unlike page cache)."""
        while not stop.wait(0.25):
            with contextlib.suppress(OSError, ValueError):
                stat = dict(line.split() for line in
                            (self.memory / "memory.stat").read_text().splitlines())
                peaks["anon"] = max(peaks.get("anon", 0), int(stat.get("rss", 0)))

    def stats(self) -> dict:
        control = dict(line.split() for line in
                       (self.memory / "memory.oom_control").read_text().splitlines())
        return {"peak MB": int((self.memory / "memory.max_usage_in_bytes").read_text()) >> 20,
                "limit hits": int((self.memory / "memory.failcnt").read_text()),
                "OOM kills": int(control.get("oom_kill", 0))}

    def remove(self) -> None:
        for folder in (self.memory, self.cpu):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:  # a process still exiting
                    time.sleep(0.2)


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def gradescope_python() -> Path:
    """An interpreter set up as ``setup.sh`` sets up ``/opt/seqlab``: this environment's
    packages (hard links, no copy) and the kit imported from ``ROOT/source`` only.

    The development venv imports ``seqlab`` and ``autograder`` from the checkout (an
    editable install), which a sandboxed child cannot see; on Gradescope they come from
    ``/autograder/source``, and so they do here.
    """
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    target = VENV / site.relative_to(sys.prefix)
    if not (VENV / "bin" / "python").exists():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys._base_executable if hasattr(sys, "_base_executable")
                        else sys.executable, "-m", "venv", "--without-pip", str(VENV)],
                       check=True)
        shutil.rmtree(target)
        subprocess.run(["cp", "-al", str(site), str(target)], check=True)
        for item in target.glob("__editable__*"):
            item.unlink()
        (target / "seqlab_gradescope_source.pth").write_text(f"{ROOT / 'source'}\n")
    return VENV / "bin" / "python"


def fake_root(assignment: str, folder: Path, holdout: Path | None = None,
              submission: Path | None = None, source: Path = REPO) -> Path:
    """``ROOT`` laid out as Gradescope does, with the reference submission (or the files of
    ``submission``); the bundle is built in ``folder`` by the TA's command, run in the
    checkout ``source`` (another one, e.g. an older commit's ``git archive``, for a before
    and after)."""
    from autograder.assignments import load_assignment

    root = ROOT
    shutil.rmtree(root.parent, ignore_errors=True)
    (root / "source").mkdir(parents=True)
    root.parent.chmod(0o755)
    bundle = folder / "autograder.zip"
    subprocess.run([sys.executable, "-m", "autograder", "gradescope", "--out", str(bundle),
                    "--assignment", assignment,
                    *(["--holdout", str(holdout)] if holdout else [])],
                   cwd=source, check=True, capture_output=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir()
    if submission is not None:
        shutil.copytree(submission, root / "submission", dirs_exist_ok=True)
    else:
        filename = load_assignment(assignment).FILENAME
        shutil.copy(REPO / "solutions" / filename, root / "submission" / filename)
        # and the reference's answers to the labs' questions, as a student's zip carries them
        shutil.copy(REPO / "solutions" / "answers.json", root / "submission" / "answers.json")
    return root


def measure(assignment: str, setting: str, vcpu: float, megabytes: int, *,
            timeout: float, extra_env: dict | None = None, source: Path = REPO,
            submission: Path | None = None, holdout: Path | None = None) -> dict:
    row = {"assignment": assignment, "setting": setting, "vCPU": vcpu, "memory MB": megabytes,
           "load before": _load()}
    with tempfile.TemporaryDirectory(prefix="seqlab-container-") as tmp:
        root = fake_root(assignment, Path(tmp), source=source, submission=submission,
                         holdout=holdout)
        container = Container(f"seqlab-bench-{os.getpid()}", vcpu, megabytes)
        env = {**os.environ, "SEQLAB_GRADESCOPE_ROOT": str(root),
               "SEQLAB_PYTHON": str(gradescope_python()), **(extra_env or {})}
        stop, peaks = threading.Event(), {}
        watcher = threading.Thread(target=container.watch, args=(stop, peaks), daemon=True)
        watcher.start()
        start = time.perf_counter()
        try:
            done = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                                  preexec_fn=container.enter, capture_output=True, text=True,
                                  timeout=timeout)
            code, finished = done.returncode, True
        except subprocess.TimeoutExpired as exc:
            code, finished, done = None, False, exc
        finally:  # the cgroups go, whatever happened
            row["wall s"] = round(time.perf_counter() - start, 1)
            stop.set()
            watcher.join()
            row.update(container.stats())
            row["peak anon MB"] = peaks.get("anon", 0) >> 20
            container.remove()
        results = root / "results" / "results.json"
        payload = json.loads(results.read_text()) if results.exists() else {}
        tests = payload.get("tests", [])
        row["score"] = (f"{payload.get('score', 0):g}/"
                        f"{sum(t.get('max_score', 0) for t in tests):g}" if payload else "none")
        row["grader_error tests"] = sum(
            1 for t in tests if "grader_error" in str(t.get("name", "")) + str(
                (t.get("extra_data") or {}).get("status", "")))
        row["finished"] = "yes" if finished and code == 0 else (
            f"exit {code}" if finished else f"timeout {timeout:.0f} s")
        row["lost"] = [f"{t['name']}: {t.get('output', '')[:160]}" for t in tests
                       if t.get("max_score", 0) and t.get("score", 0) < t["max_score"]]
        row["withheld"] = [f"{t['name']}: {t.get('output', '')[:200]}" for t in tests
                           if (t.get("extra_data") or {}).get("status") == "grader_error"]
        row["output"] = payload.get("output", "")[:400]
        if not finished or code:
            stderr = done.stderr or ""
            row["stderr"] = (stderr if isinstance(stderr, str) else stderr.decode())[-800:]
    row["load after"] = _load()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="+", default=list(ASSIGNMENTS),
                        choices=ASSIGNMENTS)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS),
                        help="names from {default, recommended} or NAME=VCPU:MEGABYTES")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="wall seconds per run (Gradescope allows 10 min by default, "
                             "40 at most)")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="build the bundle from this checkout (default: this one)")
    parser.add_argument("--submission", type=Path,
                        help="grade these files (e.g. sentiment.py and model.keras) instead "
                             "of the reference module")
    parser.add_argument("--holdout", type=Path, metavar="FILE",
                        help="build the bundle with --holdout FILE (full profile)")
    parser.add_argument("--label", default="",
                        help="appended to each row's setting (e.g. 'before')")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--record-as", default="gradescope_container",
                        help="name of the bench/results files")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("needs root (cgroups, and run_autograder runs as root on Gradescope)")
    settings = []
    for item in args.settings:
        name, _, value = item.partition("=")
        if value:
            vcpu, megabytes = value.split(":")
            settings.append((name, float(vcpu), int(megabytes)))
        else:
            settings.append((name, *SETTINGS[name]))
    rows = []
    for assignment in args.assignments:
        for name, vcpu, megabytes in settings:
            row = measure(assignment, name + args.label, vcpu, megabytes,
                          timeout=args.timeout, source=args.source.resolve(),
                          submission=args.submission, holdout=args.holdout)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print_table("run_autograder in a Gradescope-sized container", rows, COLUMNS)
    if args.record:
        notes = ("Reference solutions from `solutions/`, bundle built by `python -m autograder "
                 "gradescope --assignment NAME`, run by the bundle's own `run_autograder` in a "
                 "cgroup v1 memory + cpu cgroup (no swap). Peak MB is "
                 "`memory.max_usage_in_bytes` (page cache included); peak anon MB the "
                 "largest anonymous memory (`rss` in `memory.stat`, sampled every 0.25 s), "
                 "which the kernel cannot reclaim without killing; OOM kills is the "
                 "kernel's count for the cgroup. Page cache is charged to the cgroup that "
                 "first read a file: TensorFlow's libraries (about 390 MB mapped per "
                 "process) were already cached by other processes on this machine, so in a "
                 "fresh Gradescope container peak MB would be higher by up to that much, "
                 "all of it clean page cache the kernel drops before it kills. Measured on a "
                 "shared 2-core machine: the load averages before/after each row say how "
                 "busy it was, and wall times are upper bounds.\n\nPoints lost per row:"
                 "\n\n" + "\n".join(
                     f"- {r['assignment']} / {r['setting']}: " + ("; ".join(
                         r["lost"] + [f"withheld (grader_error) {w}" for w in
                                      r.get("withheld", [])]) or "none")
                     for r in rows))
        with contextlib.suppress(KeyError):
            record(args.record_as, command="python bench/gradescope_container.py "
                   + " ".join(sys.argv[1:]), rows=rows, columns=COLUMNS, notes=notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
