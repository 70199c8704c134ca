"""The decision policy: a pure function from scores and policy configuration to a decision with its reasons.

Policy reasons (length, empty, repeated text, and the site rules: links, banned words, suspect words) are kept
apart from model reasons (spam, off-topic), each with its own action, so a site can tune one without touching the
other. The decision is the most severe action among the reasons; without any reason the comment is accepted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from moderation.actions import ACCEPT, ACTIONS, FLAG, REJECT
from moderation.site_rules import NOTHING, Findings, SiteRules, link_message, word_message

_SEVERITY = {ACCEPT: 0, FLAG: 1, REJECT: 2}
# Every reason code decide() can give; a moderator may pause the holds (flags) of any of them.
REASON_CODES = ("empty", "too_long", "repeat", "links", "banned_word", "suspect_word", "spam", "off_topic",
                "toxic")
PAUSED_NOTE = " Holding for this reason is paused by a moderator."


class PolicyError(ValueError):
    """A policy configuration that makes no sense (a threshold outside [0, 1], an unknown action)."""


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    action: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PolicyConfig:
    """Per-site policy. Model thresholds default to the ones chosen for the model at training time."""

    max_chars: int = 1500
    too_long_action: str = REJECT
    empty_action: str = REJECT
    spam_flag: float = 0.5
    spam_reject: float = 0.9
    off_topic_flag: float = 0.8
    off_topic_reject: float | None = None  # off-topic alone never rejects unless a site configures it
    # One- to five-word comments: their own threshold (from the short-comment combiner) and action.
    short_off_topic_flag: float = 0.5
    short_off_topic_action: str = FLAG
    # The same text (moderation/repeats.py: at least `repeat_min_words` words) posted `repeat_min` times within
    # `repeat_window_hours`, counting this one, under any article: copy-paste campaigns. "accept" turns it off.
    repeat_action: str = FLAG
    repeat_min: int = 3
    repeat_window_hours: float = 24.0
    repeat_min_words: int = 6
    # Toxicity (moderation/toxicity.py): from `toxic_flag` (the model's, chosen at training time) the `toxic` reason
    # with `toxic_action`: flag by default, reject or accept (off) by configuration.
    toxic_flag: float = 0.9
    toxic_action: str = FLAG
    # The site's rules (links, banned and suspect words): site configuration, never part of the model.
    site: SiteRules | None = None
    # Reason codes whose holds are paused (a moderator stopping a runaway false positive, service/policy_settings.py):
    # a flag for one of them becomes an accept, with the reason still listed; a reject stays a reject.
    paused: tuple[str, ...] = ()

    def __post_init__(self):
        if isinstance(self.paused, str) or not all(isinstance(code, str) for code in self.paused):
            raise PolicyError("paused must be a list of reason codes")
        unknown = sorted(set(self.paused) - set(REASON_CODES))
        if unknown:
            raise PolicyError(f"paused: unknown reason code {unknown[0]!r} (one of {', '.join(REASON_CODES)})")
        object.__setattr__(self, "paused", tuple(sorted(set(self.paused))))
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 1:
            raise PolicyError(f"max_chars must be a whole number of at least 1, not {self.max_chars!r}")
        if isinstance(self.repeat_min, bool) or not isinstance(self.repeat_min, int) or self.repeat_min < 2:
            raise PolicyError("repeat_min must be a whole number of at least 2 (this comment and one before)")
        if isinstance(self.repeat_min_words, bool) or not isinstance(self.repeat_min_words, int) \
                or self.repeat_min_words < 1:
            raise PolicyError("repeat_min_words must be a whole number of at least 1")
        if isinstance(self.repeat_window_hours, bool) or not isinstance(self.repeat_window_hours, (int, float)) \
                or not 0 < self.repeat_window_hours <= 24 * 366:
            raise PolicyError("repeat_window_hours must be a number of hours above 0 and at most a year")
        for name in ("too_long_action", "empty_action", "short_off_topic_action", "repeat_action",
                     "toxic_action"):
            if getattr(self, name) not in ACTIONS:
                raise PolicyError(f"{name} must be one of {', '.join(ACTIONS)}")
        for name in ("spam_flag", "spam_reject", "off_topic_flag", "off_topic_reject", "short_off_topic_flag",
                     "toxic_flag"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0.0 <= value <= 1.0):
                raise PolicyError(f"{name} must be a number within [0, 1], not {value!r}")
        if self.spam_reject < self.spam_flag:
            raise PolicyError("spam_reject must not be below spam_flag")

    def with_overrides(self, **overrides) -> "PolicyConfig":
        """A copy with the given fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict:
        out = asdict(replace(self, site=None))
        del out["site"]
        if self.paused:  # without pauses, the dict (and a rescore checkpoint) is as it always was
            out["paused"] = list(self.paused)
        else:
            del out["paused"]
        if self.site is not None:  # without site rules, the dict (and a rescore checkpoint) is as it always was
            out["site"] = self.site.to_dict()
        return out

    @classmethod
    def from_dict(cls, values: dict, site: SiteRules | None = None) -> "PolicyConfig":
        """The policy `to_dict` wrote (a rescore checkpoint), with the given site rules (the word lists are read
        from their files, not from the dict, which only holds their checksums)."""
        known = {f.name for f in fields(cls)} - {"site"}
        return cls(**{k: v for k, v in values.items() if k in known}, site=site)


def model_policy(metadata: dict, **overrides) -> PolicyConfig:
    """The policy of a model from its metadata: its own thresholds (chosen at training time), with any site
    overrides on top (`moderator.policy_for`; here for callers that do not load the model, e.g. rescore's main
    process)."""
    thresholds = metadata.get("thresholds", {})
    base = PolicyConfig().with_overrides(
        spam_flag=thresholds.get("spam_flag"), spam_reject=thresholds.get("spam_reject"),
        off_topic_flag=thresholds.get("off_topic_flag"), short_off_topic_flag=thresholds.get("short_off_topic_flag"),
        toxic_flag=thresholds.get("toxic_flag"),
    )
    return base.with_overrides(**overrides)


def decide(length: int, spam: float | None, policy: PolicyConfig, off_topic: float | None = None,
           short: bool = False, found: Findings = NOTHING, repeats: int | None = None,
           support=None, toxicity: float | None = None) -> Decision:
    """Turn the comment's policy length and model scores into a decision and the reasons for it.

    `length` is the policy length of the comment (0 when it is empty after normalisation); `spam` and
    `off_topic` are calibrated probabilities, or None when not scored. `short` marks a one- to five-word comment
    (moderation.relevance.is_short): its off_topic score comes from the short-comment combiner and is judged
    against `short_off_topic_flag`, with `short_off_topic_action` (flag by default, reject by configuration).
    `found` is what the site rules found in the comment (`policy.site.inspect(text)`): links outside the allowed
    domains (from `links_min` of them), banned and suspect list entries, each a reason with the site's action.
    `repeats` is how many times the same text was posted before within the policy's window (None when not
    counted: too few words, the rule off, or no history, as in batch rescoring). A reason in `policy.paused` that
    would flag is listed with action accept and a note saying so; a reject is never paused.
    `support` is the short-comment rule's verdict (moderation/short_support.py, None when not judged): a generic
    reaction gets no off-topic reason; an unsupported short comment gets one, with `short_off_topic_action`,
    whatever its score.
    `toxicity` (None when not scored) at or above `toxic_flag` gives the `toxic` reason with `toxic_action` (none
    when that is accept).
    """
    reasons: list[Reason] = []
    if length == 0:
        reasons.append(Reason("empty", "The comment is empty.", policy.empty_action))
    elif length > policy.max_chars:
        reasons.append(Reason(
            "too_long", f"The comment is {length} characters long; the limit is {policy.max_chars}.",
            policy.too_long_action,
        ))
    if repeats is not None and repeats + 1 >= policy.repeat_min:
        reasons.append(Reason(
            "repeat", f"The same text was posted {repeats} time{'s' if repeats != 1 else ''} before in the last "
                      f"{policy.repeat_window_hours:g} hours.", policy.repeat_action,
        ))
    site = policy.site
    if site is not None and found is not NOTHING:
        if found.links and len(found.links) >= site.links_min and site.links_action != ACCEPT:
            reasons.append(Reason("links", link_message(found.links, site.links_min), site.links_action))
        if found.banned and site.banned_action != ACCEPT:
            reasons.append(Reason("banned_word", word_message(found.banned, "banned words"), site.banned_action))
        if found.suspect and site.suspect_action != ACCEPT:
            reasons.append(Reason("suspect_word", word_message(found.suspect, "suspect words"),
                                  site.suspect_action))
    if spam is not None:
        if spam >= policy.spam_reject:
            reasons.append(Reason("spam", f"Spam score {spam:.2f} is at or above {policy.spam_reject:.2f}.", REJECT))
        elif spam >= policy.spam_flag:
            reasons.append(Reason("spam", f"Spam score {spam:.2f} is at or above {policy.spam_flag:.2f}.", FLAG))
    verdict = getattr(support, "verdict", None)
    if short and verdict == "unsupported":
        reasons.append(Reason("off_topic", support.message(), policy.short_off_topic_action))
    elif short and verdict == "generic":
        pass  # a generic reaction is never held for relevance
    elif off_topic is not None and short:
        if off_topic >= policy.short_off_topic_flag:
            reasons.append(Reason(
                "off_topic", f"Short comment: off-topic score {off_topic:.2f} is at or above "
                             f"{policy.short_off_topic_flag:.2f}.", policy.short_off_topic_action,
            ))
    elif off_topic is not None:
        if policy.off_topic_reject is not None and off_topic >= policy.off_topic_reject:
            reasons.append(Reason(
                "off_topic", f"Off-topic score {off_topic:.2f} is at or above {policy.off_topic_reject:.2f}.", REJECT
            ))
        elif off_topic >= policy.off_topic_flag:
            reasons.append(Reason(
                "off_topic", f"Off-topic score {off_topic:.2f} is at or above {policy.off_topic_flag:.2f}.", FLAG
            ))
    if toxicity is not None and toxicity >= policy.toxic_flag and policy.toxic_action != ACCEPT:
        reasons.append(Reason("toxic", f"Toxicity score {toxicity:.2f} is at or above {policy.toxic_flag:.2f}.",
                              policy.toxic_action))
    if policy.paused:
        reasons = [Reason(r.code, r.message + PAUSED_NOTE, ACCEPT) if r.action == FLAG and r.code in policy.paused
                   else r for r in reasons]
    acting = [r for r in reasons if r.action != ACCEPT]
    decision = max((r.action for r in acting), key=_SEVERITY.__getitem__, default=ACCEPT)
    return Decision(decision, tuple(reasons))
