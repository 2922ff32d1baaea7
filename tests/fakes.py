"""Hand-made inputs for the figure, panel and widget tests: reconstructions, attention maps, a clock, a control."""

from types import SimpleNamespace

import torch

from mae_lab.masking import make_mask
from mae_lab.models import Reconstruction


def fake_reconstruction(batch=2, hot=(1, 2)):
    """A ``Reconstruction`` of 16 px images on a 4 x 4 grid whose error peaks at patch ``hot`` = (row, col)."""
    gen = torch.Generator().manual_seed(0)
    original = torch.rand(batch, 3, 16, 16, generator=gen)
    error = torch.rand(batch, 16, generator=gen) * 0.1
    error[:, hot[0] * 4 + hot[1]] = 1.0  # the hottest patch
    mask = make_mask("random", batch, grid=(4, 4), ratio=0.5, seed=0)
    return Reconstruction(original, original * 0.5, original.flip(-1), original, error, mask)


def synthetic_attention(layers=2, heads=3, n=16, hot=5, batch=1):
    """Attention maps ``[batch, heads, 1 + n, 1 + n]`` per layer in which every token looks at patch ``hot``."""
    attn = torch.full((batch, heads, n + 1, n + 1), 0.01)
    attn[:, :, :, 1 + hot] = 1.0  # everyone looks at patch `hot`
    return [(attn / attn.sum(-1, keepdim=True)).clone() for _ in range(layers)]


class FakeTimer:
    """A clock and a scheduler the test advances by hand (no event loop needed)."""

    def __init__(self):
        self.now = 100.0
        self.scheduled = []

    def clock(self):
        return self.now

    def schedule(self, delay, callback):
        handle = SimpleNamespace(delay=delay, callback=callback, cancelled=False)
        handle.cancel = lambda: setattr(handle, "cancelled", True)
        self.scheduled.append(handle)
        return handle

    def fire(self):
        handles, self.scheduled = self.scheduled, []
        for handle in handles:
            if not handle.cancelled:
                self.now += handle.delay
                handle.callback()


def control(app, description):
    """The control of a live app with this description (e.g. ``"mask ratio"``)."""
    return next(c for c in app.controls if c.description == description)
