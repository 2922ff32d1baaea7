"""Self-checking exercises for the course notebooks.

Each ``check_*`` function runs a student's answer on inputs it makes itself, compares the result
with mae_lab's reference implementation and says what is wrong in plain words. It returns a
:class:`~mae_lab.exercises.core.CheckResult`: a green or red line in a notebook, truthy when right.

>>> from mae_lab.exercises import check_patchify
>>> check_patchify(my_patchify)        # doctest: +SKIP
✓ patchify: correct — [2, 3, 8, 8] → [2, 4, 48], every value in place.
"""

from .core import CheckResult
from .course import *  # noqa: F403
from .course import __all__ as _course_all

__all__ = ["CheckResult", *_course_all]
