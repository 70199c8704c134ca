"""What a reason asks for, and so what a decision is: accept (publish), flag (hold for a moderator), reject.

One definition for the decision policy (moderation/policy.py) and the site rules (moderation/site_rules.py)."""

ACCEPT, FLAG, REJECT = "accept", "flag", "reject"
ACTIONS = (ACCEPT, FLAG, REJECT)  # from the mildest to the most severe
