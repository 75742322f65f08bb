import pytest

from cropland.data.class_names import MAX_CLASSES, class_names_problem
from cropland.data.layout import CLASSES


def test_the_dataset_classes_are_accepted():
    assert class_names_problem(list(CLASSES)) is None


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ("BARLEYCANOLA", "expected a list"),
        ([], "0 class names"),
        (["A"] * (MAX_CLASSES + 1), "class names, expected 1 to"),
        ([1, 2], "entry 0 is a int"),
        (["A", ""], "entry 1 ('') has 0 characters"),
        (["A" * 65], "has 65 characters"),
        (["OAT", "OAT"], "repeats"),
        (['=HYPERLINK("x")'], "spreadsheet formula"),
        (["CORN\n"], "control characters"),
    ],
)
def test_bad_class_names_are_named(names, expected):
    assert expected in class_names_problem(names)
