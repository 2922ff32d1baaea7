"""exercises.core: the predictions of labs 00-08 — right answers, explanations, tolerant spelling."""

import pytest

from mae_lab.exercises.core import PREDICTIONS, CheckResult, check_prediction

LABS_00_TO_08 = [
    ("best_ratio_images", "high", ["low"]),
    ("nearest_position", "neighbour", ["corner", "random"]),
    ("easiest_mask_at_75", "grid", ["random", "block"]),
    ("encoder_cost_at_75", "quarter", ["same", "half"]),
    ("block_vs_random_error", "block", ["random", "same"]),
    ("hardest_patches", "textured", ["flat"]),
    ("mae_linear_vs_finetune", "finetune", ["linear", "same"]),
    ("local_heads_deep_layers", "masked", ["supervised", "same"]),
    ("block_at_high_ratio", "block", ["random", "grid"]),
]


@pytest.mark.parametrize(("question", "right", "wrong"), LABS_00_TO_08)
def test_predictions_of_labs_00_to_08(question, right, wrong):
    assert PREDICTIONS[question][0] == right
    assert check_prediction(question, right).passed
    assert check_prediction(question, right.upper() + " ").passed  # case and spaces do not matter
    for answer in wrong:
        result = check_prediction(question, answer)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction(question, "maybe").message
    assert "answer with one of" in check_prediction(question, "").message  # the unfinished stub


def test_explanations_cite_the_paper_behind_their_numbers():
    assert "Table 1f" in PREDICTIONS["easiest_mask_at_75"][1]["grid"]
    assert "Fig. 5" in PREDICTIONS["best_ratio_images"][1]["high"]
    assert "Table 3" in PREDICTIONS["mae_linear_vs_finetune"][1]["finetune"]
    assert "Table 12" in PREDICTIONS["mae_linear_vs_finetune"][1]["finetune"]
    assert "Table 1f" in PREDICTIONS["block_at_high_ratio"][1]["block"]
    assert "Xie et al." in PREDICTIONS["local_heads_deep_layers"][1]["masked"]


def test_an_unknown_question_raises_with_the_known_ones():
    with pytest.raises(KeyError, match="best_ratio_images"):
        check_prediction("best_ratio", "high")


def test_a_result_is_truthy_when_right_and_renders_as_html():
    right = CheckResult("x", True, "fine")
    assert right and str(right).startswith("✓") and "<div" in right._repr_html_()
    wrong = CheckResult("x", False, "a <b>tag</b>")
    assert not wrong and "&lt;b&gt;" in wrong._repr_html_()
