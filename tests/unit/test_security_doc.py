"""SECURITY.md names a test for every row of its table: each named test must exist, so the table stays true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE_ROW = re.compile(r"^\|(?!---)(?!\s*Door\b).*\|$", re.MULTILINE)
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?(?:\[\w+\])?`")


def test_every_row_names_tests_that_exist() -> None:
    rows = TABLE_ROW.findall((ROOT / "SECURITY.md").read_text())
    assert len(rows) >= 15
    missing, current = [], ""
    for row in rows:
        tests = row.rsplit("|", 2)[-2]
        named = [m for m in REFERENCE.finditer(tests) if m.group(1) or m.group(2)]
        assert named, f"a row without a test: {row}"
        for match in named:
            current = match.group(1) or current  # `::name` refers to the file named last
            source = (ROOT / current).read_text()
            if match.group(2) and not re.search(rf"^(async )?def {match.group(2)}\(", source, re.MULTILINE):
                missing.append(f"{current}::{match.group(2)}")
    assert missing == []
