"""The reference solutions of notebooks 00-04 pass their own checks (and so do the checks' messages)."""

from __future__ import annotations

import pytest
from solutions_loader import SOLUTIONS, load_solutions

from mae_lab import exercises as ex


def test_00_predictions():
    sol = load_solutions("00")
    assert ex.check_num_visible(sol.VISIBLE_TOKENS_AT_75, num_patches=64, ratio=0.75)
    assert ex.check_prediction("best_ratio_images", sol.BEST_RATIO_IMAGES)


def test_01_patchify_and_token_count():
    sol = load_solutions("01")
    assert ex.check_patchify(sol.my_patchify)
    assert ex.check_token_count(sol.token_count)
    assert ex.check_prediction("nearest_position", sol.NEAREST_POSITION)


def test_02_random_masking():
    sol = load_solutions("02")
    assert ex.check_random_masking(sol.my_random_masking)
    assert ex.check_prediction("easiest_mask_at_75", sol.EASIEST_MASK_AT_75)
    assert ex.check_num_visible(sol.VISIBLE_AT_90_OF_64, num_patches=64, ratio=0.9)


def test_03_loss_and_targets():
    sol = load_solutions("03")
    assert ex.check_masked_loss(sol.my_masked_loss)
    assert ex.check_norm_pixels(sol.my_norm_pixels)
    assert ex.check_num_visible(sol.VISIBLE_TOKENS_VIT_B, num_patches=196, ratio=0.75)
    assert ex.check_prediction("encoder_cost_at_75", sol.ENCODER_COST_AT_75)


def test_04_baseline_and_predictions():
    sol = load_solutions("04")
    assert ex.check_mean_baseline(sol.mean_visible_baseline)
    assert ex.check_prediction("block_vs_random_error", sol.BLOCK_VS_RANDOM_ERROR)
    assert ex.check_prediction("hardest_patches", sol.HARDEST_PATCHES)


@pytest.mark.parametrize("number", ["01", "02", "03", "04"])
def test_solutions_match_the_notebook_stubs(number):
    """Every function the notebook asks for exists in its solutions module (same names)."""
    import json

    sol = load_solutions(number)
    notebook = next((SOLUTIONS.parent).glob(f"{number}_*.ipynb"))
    cells = json.loads(notebook.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    stubs = [line.split("(")[0][4:] for source in sources if "raise NotImplementedError" in source
             for line in source.splitlines() if line.startswith("def ")]
    assert stubs, f"{notebook.name} has no exercise stubs"
    for name in stubs:
        assert callable(getattr(sol, name, None)), f"{number}_solutions.py lacks {name}()"
