"""Reference answers for notebook 00 (start here): two predictions."""

# How many patch tokens does the encoder of mae_tiny_photos see at a 75 % mask?
# 8 x 8 = 64 patches, 48 hidden, so 16 visible (17 with the class token).
VISIBLE_TOKENS = 16

# Which masking ratio suits images best: "low" (like BERT's 15 %) or "high" (MAE's 75 %)?
BEST_RATIO = "high"
