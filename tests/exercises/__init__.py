"""Tests of the exercise checks, one file per topic (a package, so names may repeat those in tests/)."""
