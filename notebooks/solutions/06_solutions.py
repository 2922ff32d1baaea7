"""Reference solutions for notebook 06 (probing)."""

import torch
import torch.nn.functional as F


def knn_vote(train_feats, train_labels, test_feats, k, temperature, num_classes):
    """DINO's weighted kNN: ``[M, D], [M], [Q, D] -> predicted labels [Q]``.

    Cosine similarity to every training feature; the ``k`` most similar vote for their label
    with weight ``exp(similarity / temperature)``; the class with the largest total wins.
    """
    similarity = F.normalize(test_feats, dim=1) @ F.normalize(train_feats, dim=1).T  # [Q, M]
    top_similarity, top_index = similarity.topk(k, dim=1)  # [Q, k]
    weights = (top_similarity / temperature).exp()  # [Q, k]
    votes = torch.zeros(len(test_feats), num_classes)  # [Q, classes]
    votes.scatter_add_(1, train_labels[top_index], weights)
    return votes.argmax(dim=1)


# For MAE's ViT-L on ImageNet, which is higher: "linear" probe, "finetune", or the "same"?
HIGHER = "finetune"
