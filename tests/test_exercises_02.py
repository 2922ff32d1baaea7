"""The prediction added for notebook 02: which mask is easiest at 75 %."""

from mae_lab import exercises as ex


def test_easiest_mask_prediction():
    assert ex.check_prediction("easiest_mask_at_75", "grid")
    block = ex.check_prediction("easiest_mask_at_75", "Block ")
    assert not block and "hardest" in block.message
    assert not ex.check_prediction("easiest_mask_at_75", "random")
