"""Checks added for notebook 01: the token count and the nearest-position prediction."""

from mae_lab import exercises as ex


def test_token_count_right_and_wrong():
    assert ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p * c))
    per_pixel = ex.check_token_count(lambda h, w, p, c: (h * w // p, p * p * c))
    assert not per_pixel and "p²" in per_pixel.message
    no_channels = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p), p * p))
    assert not no_channels and "every channel" in no_channels.message
    swapped = ex.check_token_count(lambda h, w, p, c: (p * p * c, (h // p) * (w // p)))
    assert not swapped and "swapped" in swapped.message
    with_cls = ex.check_token_count(lambda h, w, p, c: ((h // p) * (w // p) + 1, p * p * c))
    assert not with_cls and "class token" in with_cls.message


def test_token_count_rectangular_images():
    square_only = ex.check_token_count(lambda h, w, p, c: ((h // p) ** 2, p * p * c))
    assert not square_only and "64×96" in square_only.message


def test_token_count_stub_and_bad_return():
    def todo(h, w, p, c):
        raise NotImplementedError

    assert "not implemented" in ex.check_token_count(todo).message
    assert "two numbers" in ex.check_token_count(lambda h, w, p, c: 196).message


def test_nearest_position_prediction():
    assert ex.check_prediction("nearest_position", "neighbour")
    assert not ex.check_prediction("nearest_position", "corner")
    assert "answer with one of" in ex.check_prediction("nearest_position", "").message
