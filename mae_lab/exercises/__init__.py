"""Self-checking exercises for the course notebooks, one module per subject.

Each ``check_*`` function runs a student's answer on inputs it makes itself, compares the result with
mae_lab's reference implementation and says what is wrong in plain words. It returns a
:class:`~mae_lab.exercises.core.CheckResult`: a green or red line in a notebook, truthy when right.

>>> from mae_lab.exercises import check_patchify
>>> check_patchify(my_patchify)        # doctest: +SKIP
✓ patchify: correct — [2, 3, 8, 8] → [2, 4, 48], every value in place.
"""

from .attention import check_attention_distance, check_rollout
from .core import PREDICTIONS, CheckResult, check_prediction
from .designs import check_cosine_schedule, check_simmim_tokens
from .experiments import check_experiment
from .mae import check_decoder_input, check_mean_baseline, check_norm_pix_loss
from .masking import check_block_mask, check_num_visible, check_random_masking
from .patches import check_patchify, check_token_count
from .probing import check_knn_vote
from .sequences import check_bert_corruption
from .targets import check_frequency_corrupt, check_frequency_loss, check_hog_bins
from .training import check_train_step, check_warmup_cosine

__all__ = [
    "CheckResult",
    "PREDICTIONS",
    "check_attention_distance",
    "check_bert_corruption",
    "check_block_mask",
    "check_cosine_schedule",
    "check_decoder_input",
    "check_experiment",
    "check_frequency_corrupt",
    "check_frequency_loss",
    "check_hog_bins",
    "check_knn_vote",
    "check_mean_baseline",
    "check_norm_pix_loss",
    "check_num_visible",
    "check_patchify",
    "check_prediction",
    "check_random_masking",
    "check_rollout",
    "check_simmim_tokens",
    "check_token_count",
    "check_train_step",
    "check_warmup_cosine",
]
