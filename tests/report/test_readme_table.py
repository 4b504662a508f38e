"""The README's findings table is generated from the shipped report's tables, and stays equal to them."""
from __future__ import annotations

from pathlib import Path

import pytest

from archrisk.errors import InvalidValueError
from archrisk.report.readme_table import END, START, claims_markdown, readme_block, write_readme_table

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "docs" / "reference" / "v1" / "tables"  # the report the README quotes


def _tables(tmp_path: Path) -> Path:
    (tmp_path / "claims.csv").write_text(
        "id,claim,verdict,reason,power,decidable,scale,evidence,caveats\n"
        "C1,NAS models are more vulnerable to evasion,reproduced,,0.9,True,x,,\n"
        "C4,NAS models are easier to steal,inconclusive,underpowered: power 0.1,0.1,False,x,,\n")
    cols = ("claim,primary,series,scale,design,log_scale,study_direction,estimate,lo,hi,p,p_holm,exact_p,exact_p_min,"
            "alpha_family,power,study_g,mde,mde_g,sesoi,units_a,units_b,seeds,seed_agreement,verdict,reason\n")
    (tmp_path / "claim_tests.csv").write_text(
        cols + "C1,PGD,pgd,\"dataset=mnist5k, size=tiny\",groups,False,1,0.12,0.05,0.19,0.001,0.01,,,0.004,0.9,2.37,"
               ",,0.06,10,7,2,0.8,reproduced,\n")
    return tmp_path


def test_table_rows_carry_verdict_effect_and_power(tmp_path):
    md = claims_markdown(_tables(tmp_path))
    c1 = next(line for line in md.splitlines() if line.startswith("| C1 "))
    assert "**reproduced**" in c1 and "mnist5k: 0.12 [0.05, 0.19]" in c1 and "power 0.9" in c1
    c4 = next(line for line in md.splitlines() if line.startswith("| C4 "))
    assert "**inconclusive**" in c4 and "underpowered" in c4


def test_write_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\nold\n{END}\n\nrest\n")
    write_readme_table(readme, _tables(tmp_path))
    text = readme.read_text()
    assert readme_block(text) == claims_markdown(tmp_path) and text.endswith("\n\nrest\n") and "old" not in text
    readme.write_text("no markers")
    with pytest.raises(InvalidValueError, match="markers"):
        write_readme_table(readme, tmp_path)


def test_the_readme_table_equals_the_shipped_report():
    """The committed README says what the committed reference tables say."""
    assert (SHIPPED / "claims.csv").is_file(), "the reference report is not shipped in docs/reference"
    assert readme_block((ROOT / "README.md").read_text(encoding="utf-8")) == claims_markdown(SHIPPED)


def test_findings_text_states_both_questions_and_the_victims_from_the_tables(tmp_path):
    from archrisk.report import write_report
    from archrisk.report.readme_table import FINDINGS_END, FINDINGS_START, findings_markdown
    from archrisk.store.fixtures import write_synthetic_store

    index = write_report(write_synthetic_store(tmp_path / "s.db", n_nas=5, n_manual=4), tmp_path / "out")
    text = findings_markdown(index.parent / "tables")
    c1 = next(line for line in text.splitlines() if line.startswith("- **C1 "))
    assert "random effects, NAS - manual (5 vs 4 architectures" in c1 and "fixed effects" in c1
    assert "power" in c1 and "smallest effect of interest 0.06" in c1
    assert text.splitlines()[0].startswith("- Victims: median clean accuracy nas")
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\nold\n{END}\n\n{FINDINGS_START}\nstale\n{FINDINGS_END}\n")
    write_readme_table(readme, index.parent / "tables")
    assert readme_block(readme.read_text(), "findings") == text and "stale" not in readme.read_text()


def test_the_readme_findings_text_equals_the_shipped_report():
    """Where the README carries generated findings, they say what the committed tables say."""
    from archrisk.report.readme_table import findings_markdown

    block = readme_block((ROOT / "README.md").read_text(encoding="utf-8"), "findings")
    if block:
        assert block == findings_markdown(SHIPPED)
