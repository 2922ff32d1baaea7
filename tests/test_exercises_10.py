"""The prediction question of notebook 10 (masked language modeling): the right answer passes, the others
are explained."""

from mae_lab.exercises import PREDICTIONS, check_prediction


def test_mlm_eval_ratio_prediction():
    assert check_prediction("mlm_eval_ratio", "down").passed
    assert check_prediction("mlm_eval_ratio", "Down ").passed
    for wrong in ("up", "same"):
        result = check_prediction("mlm_eval_ratio", wrong)
        assert not result.passed and result.message.startswith("Not quite")
    assert "answer with one of" in check_prediction("mlm_eval_ratio", "higher").message
    assert PREDICTIONS["mlm_eval_ratio"][0] == "down"
