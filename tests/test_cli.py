"""The command line: summary of a data directory, errors, help."""

from pathlib import Path

import pytest

from toolkit.cli import build_parser, main

SAMPLE = Path(__file__).parent.parent / "sample_data"


def test_summary_prints_counts_per_record_kind(capsys):
    assert main(["summary", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "## tasks: 56 (read 193, accepted 56, duplicates folded 137, rejected 0)" in out
    assert "## faces: 3000" in out and "212 clusters; 298 faces in no cluster" in out
    assert "## cluster records: 212" in out
    assert "FigureClustersMerging    failed      3" in out
    assert "## rejected records: 0" in out


def test_summary_lists_rejected_records(tmp_path, capsys):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "t.jsonl").write_text(
        '{"TaskId": "t1", "TaskType": "FaceClustering", "Status": "Succeeded"}\n{broken\n')
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## rejected records: 1" in out
    assert "t.jsonl:2" in out and "malformed JSON" in out


def test_summary_of_a_directory_without_data_is_an_error(tmp_path, capsys):
    assert main(["summary", str(tmp_path)]) == 2
    assert "is this a data directory" in capsys.readouterr().err


def test_every_command_has_help():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)
    assert {"summary", "sample-data", "audit", "report"} <= names
    for name in names:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0
