"""predict.py until=YYYYMM: each sequence classified from its images up to that month."""

import csv

import pytest

from cropland.data.prepared_file import PreparedFile
from cropland.season_so_far import Until, parse_until
from tests.predict_runs import run_predict
from tests.refusals import assert_refused


def _rows(path):
    with open(path) as handle:
        return {(r["point"], r["year"]): r for r in csv.DictReader(handle)}


def test_until_uses_the_images_up_to_that_month(trained_run, prepared_file, tmp_path):
    (year,) = set(PreparedFile(prepared_file).sequences.year.tolist())
    full = tmp_path / "full.csv"
    july = tmp_path / "july.csv"
    assert run_predict(trained_run.best_checkpoint, prepared_file, full).returncode == 0
    result = run_predict(trained_run.best_checkpoint, prepared_file, july, f"until={year}07")
    assert result.returncode == 0, result.stderr[-3000:]
    full_rows, july_rows = _rows(full), _rows(july)
    without = [k for k, r in full_rows.items() if min(map(int, r["months"].split())) > 7]
    assert without and set(july_rows) == set(full_rows) - set(without)
    assert f"{len(without)} sequences have no image up to then" in result.stderr + result.stdout
    changed = 0
    for key, row in july_rows.items():
        months = [int(m) for m in row["months"].split()]
        every = [int(m) for m in full_rows[key]["months"].split()]
        assert months == [m for m in every if m <= 7] and int(row["images"]) == len(months)
        if months == every:  # nothing after July: the same answer
            assert row["p_CORN"] == full_rows[key]["p_CORN"]
        else:
            changed += row["p_CORN"] != full_rows[key]["p_CORN"]
    assert changed > 0
    # The end of the year is the whole season.
    december = tmp_path / "december.csv"
    run_predict(trained_run.best_checkpoint, prepared_file, december, f"until={year}12")
    assert _rows(december) == full_rows


def test_a_season_of_another_year_is_whole_before_and_empty_after():
    until = Until(2019, 7)
    assert [until.last_month_of(y) for y in (2018, 2019, 2020)] == [12, 7, 0]
    assert parse_until("2019-07") == until and parse_until(201907) == until
    assert parse_until(None) is None


@pytest.mark.parametrize("value", ["2019", "201913", "july", "190007"])
def test_a_bad_until_is_refused_in_one_line(trained_run, prepared_file, tmp_path, value):
    result = run_predict(trained_run.best_checkpoint, prepared_file, tmp_path / "p.csv",
                         f"until={value}")  # fmt: skip
    assert_refused(result, "until=", "YYYYMM")
    assert not list(tmp_path.glob("*.csv"))
