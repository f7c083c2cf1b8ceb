"""bench/common.record: a new run replaces what its command made and keeps the sections
appended after it (a lab's before/after runs, each with its own command)."""

from bench import common


def test_a_new_run_keeps_the_appended_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    rows = [{"model": "gru", "bits": 2.4}]
    path = common.record("run", command="python bench/x.py", rows=rows,
                         columns=["model", "bits"])
    assert "## " not in path.read_text()
    path.write_text(path.read_text() + "\n## Lab 6: before and after\n\nMade by `cmd`.\n")
    common.record("run", command="python bench/x.py --again", rows=[{"model": "lstm",
                                                                      "bits": 2.5}],
                  columns=["model", "bits"])
    text = path.read_text()
    assert "--again" in text and "lstm" in text and "| gru" not in text
    assert text.count("## Lab 6: before and after") == 1 and text.endswith("Made by `cmd`.\n")
