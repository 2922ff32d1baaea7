"""Reference answers for notebook 08 (ablation lab): two predictions."""

# Is the best mask ratio for images "low" (like BERT's 15 %) or "high"?
BEST_RATIO = "high"

# Going to a high ratio (75-90 %), which strategy suffers most: "random", "block" or "grid"?
SUFFERS_MOST = "block"
