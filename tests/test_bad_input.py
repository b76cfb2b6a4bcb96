"""Bad input: one test per row of docs/robustness.md (cases in scripts/robustness_table.py).

Each case builds one malformed input, calls the entry point a user meets it through and checks
that the error (1) is the documented type, (2) names the file / line / parameter, (3) says what
to do, and (4) left every file that existed before the call byte-identical. A final test checks
that docs/robustness.md lists every case with the message observed now.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import robustness_table as rt  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("case", rt.CASES, ids=[c.id for c in rt.CASES])
def test_case(case, tmp_path):
    obs = rt.observe(case, tmp_path)
    if case.accepted:
        assert obs.outcome == "accepted", obs.raw
    else:
        assert obs.outcome == case.error, f"{obs.outcome}: {obs.raw}"
    for s in obs.must_name:  # the file, line or parameter the user has to look at
        assert s in obs.raw, f"message does not name {s!r}: {obs.raw}"
    if case.hint:
        assert any(h in obs.raw for h in case.hint), f"no hint {case.hint}: {obs.raw}"
    assert not obs.changed, f"files written before the call were changed: {obs.changed}"


def test_cases_cover_the_issue_list():
    ids = {c.id for c in rt.CASES}
    required = {"missing_root", "empty_root", "unreadable_image", "truncated_image",
                "zero_byte_image", "grayscale_image", "rgba_image", "wrong_size",
                "csv_wrong_delimiter", "csv_wrong_columns", "csv_non_numeric", "csv_too_few",
                "keypoint_outside", "all_missing", "pair_unknown_name", "pair_missing_file",
                "duplicate_name", "ckpt_other_preset", "ckpt_truncated", "stage2_wrong_stage1",
                "unknown_preset", "unknown_parameter", "wrong_type", "nan_parameter",
                "csv_nan", "nan_target_pose"}
    assert required <= ids, required - ids


def test_doc_lists_every_case_with_its_message():
    """docs/robustness.md is generated from the code: every case id, outcome and message.

    Messages that quote the torch version's own error text are compared up to that text.
    """
    doc = rt.DOC.read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in doc.splitlines()
            if line.startswith("| `")}
    stale = []
    for obs in rt.observe_all([c for c in rt.CASES if c.id != "ckpt_truncated"]):
        row = rows.get(obs.case.id)
        if row is None or rt._md(obs.message) not in row or f"| {obs.outcome} |" not in row:
            stale.append(obs.case.id)
    assert "ckpt_truncated" in rows and "is truncated or corrupt" in rows["ckpt_truncated"]
    assert not stale, f"docs/robustness.md is stale for {stale}: run scripts/robustness_table.py"
