"""The moderation core shared by serving and training: text normalisation, features, decision policy, registry.

Serving (`service/`) and training (`training/`) both import from here and nowhere else for anything that
touches a comment's text or a decision, so the two can never drift apart.
"""
