"""exercises.experiments: a conclusion must follow from the numbers it was drawn from."""

import pytest

from mae_lab.exercises.experiments import MIN_CLEAR_DIFFERENCE, check_experiment, compare_settings

CLEAR = {0.25: [0.660, 0.665, 0.670], 0.75: [0.700, 0.705, 0.710]}  # +4 points, seeds within 1
NOISY = {0.25: [0.66, 0.68], 0.75: [0.67, 0.665]}  # -0.3 points, seeds 2 points apart


def test_a_clear_difference_names_the_better_setting():
    verdict = compare_settings(CLEAR)
    assert verdict["clear"] and verdict["better"] == 0.75
    assert verdict["difference"] == pytest.approx(0.04)
    result = check_experiment(CLEAR, 0.75)
    assert result and "follows from your numbers" in result.message and "+4.0 points" in result.message
    assert check_experiment({"random": CLEAR[0.25], "block": CLEAR[0.75]}, "Block ")  # any two settings


def test_a_difference_within_the_noise_is_unclear():
    verdict = compare_settings(NOISY)
    assert not verdict["clear"] and verdict["better"] == "unclear"
    assert check_experiment(NOISY, "unclear") and check_experiment(NOISY, " Unclear")


def test_a_tiny_difference_is_never_clear_even_with_identical_looking_seeds():
    close = {0.25: [0.700, 0.7001], 0.75: [0.705, 0.7051]}  # 0.5 points, almost no spread
    assert compare_settings(close)["noise"] == MIN_CLEAR_DIFFERENCE
    assert check_experiment(close, "unclear")
    assert "cannot tell" in check_experiment(close, 0.75).message


@pytest.mark.parametrize(
    ("results", "better", "words"),
    [
        (NOISY, 0.25, "cannot tell"),  # claiming a direction from noise
        (NOISY, 0.75, "cannot tell"),
        (CLEAR, 0.25, "the opposite"),
        (CLEAR, "unclear", "do settle it"),
        (CLEAR, 0.5, "answer with the better setting"),
        ({0.25: 0.66, 0.75: 0.70}, 0.75, "single number"),
        ({0.25: [0.66], 0.75: [0.70]}, 0.75, "one run"),
        ({0.25: [66.0, 66.5], 0.75: [70.0, 70.5]}, 0.75, "not percent"),
        ({0.25: [0.66, 0.66], 0.75: [0.70, 0.71]}, 0.75, "identical accuracies"),
        ({0.25: [0.66, 0.67], 0.75: [0.67, 0.66]}, "unclear", "same numbers"),
        ({0.25: [0.6, 0.7], 0.5: [0.6, 0.7], 0.75: [0.6, 0.8]}, 0.75, "exactly two"),
        ({0.25: [0.6, 1.7], 0.75: [0.6, 0.7]}, 0.75, "lie in [0, 1]"),
        ([0.66, 0.70], 0.75, "should be a dict"),
        (None, "", "fill in `results`"),
    ],
)
def test_typical_mistakes_get_their_message(results, better, words):
    result = check_experiment(results, better)
    assert not result
    assert words in result.message
