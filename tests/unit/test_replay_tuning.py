"""Process settings a replay changes while it runs, and gives back after."""

from __future__ import annotations

import sys

import pytest

from infrastructure.replay.tuning import HANDOFF_SECONDS, prompt_handoffs


def test_prompt_handoffs_shortens_the_switch_interval_and_restores_it() -> None:
    before = sys.getswitchinterval()
    with prompt_handoffs():
        assert sys.getswitchinterval() == pytest.approx(HANDOFF_SECONDS)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), prompt_handoffs():
        raise RuntimeError("a failed replay")
    assert sys.getswitchinterval() == before
