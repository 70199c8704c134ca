"""Spam waves: one text (one `repeat` fingerprint, moderation/repeats.py) posted hundreds of times, decided once.

The store groups the held copies of a text into one review item (moderation/store.py, `waves`). When a moderator
decides on it, every pending copy gets the decision, and for the policy's repeat window the later copies get it at
once instead of being held again: `settle` turns the verdict of such a copy into the moderator's decision, with the
reason `wave_decided` saying so.

- label `ham`: accept, with `wave_decided` (action accept) as the only reason; except when the site's own rules
  reject the comment (a banned word added since, too long, empty): the verdict then stands as it is.
- any other label (`spam`, `off_topic`, `policy`): reject, `wave_decided` first, then the reasons the comment
  would have had anyway (for the record).

Scores are the model's, as for any comment. A wave's decision is a fact about the text, so it holds under every
article.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from moderation.actions import ACCEPT, REJECT
from moderation.policy import Reason

WAVE_DECIDED = "wave_decided"
# Reasons a moderator's decision on the text answers (the model's view of it and its being repeated); any other
# reason that rejects is the site's own rule and is kept.
ANSWERED = ("spam", "off_topic", "repeat")


def in_force(wave: dict | None, at: datetime) -> bool:
    """Whether a wave row (`Store.wave_state`) carries a moderator's decision that later copies get at `at`."""
    return bool(wave) and wave["label"] is not None and wave["decided_until"] is not None \
        and wave["decided_until"] > at


def is_open(wave: dict | None) -> bool:
    """Whether held copies of the text join a wave awaiting review now."""
    return bool(wave) and wave["label"] is None


def _when(stamp: datetime) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def message(wave: dict) -> str:
    until = _when(wave["decided_until"])
    if wave["label"] == "ham":
        return (f"A moderator accepted copies of this text on {_when(wave['decided_at'])}; "
                f"copies posted until {until} are accepted without review.")
    return (f"A moderator rejected copies of this text ({wave['label']}) on {_when(wave['decided_at'])}; "
            f"copies posted until {until} are rejected without review.")


def settle(verdict, wave: dict | None, at: datetime):
    """The verdict a comment gets when its text's wave was decided by a moderator and the decision is in force at
    `at`; the verdict unchanged otherwise."""
    if not in_force(wave, at):
        return verdict
    reason = Reason(WAVE_DECIDED, message(wave), ACCEPT if wave["label"] == "ham" else REJECT)
    if wave["label"] == "ham":
        if any(r.action == REJECT and r.code not in ANSWERED for r in verdict.reasons):
            return verdict
        return replace(verdict, decision=ACCEPT, reasons=(reason,))
    return replace(verdict, decision=REJECT, reasons=(reason, *verdict.reasons))
