"""Where the tests find things: the repository, the shared feed samples beside it, the bad-input corpus."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Real captures of every feed format (../shared/samples): read in place, never copied; tests that
# need one skip when the folder is absent.
SAMPLES = REPO.parent / "shared" / "samples"
CORPUS = REPO / "tests" / "cases" / "bad_input"
ARTIFACTS = REPO / "test-artifacts"
