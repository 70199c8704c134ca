from moderation.text import normalise, policy_length


def test_html_entities_and_tags_are_undone():
    assert normalise("I&#39;m here &lt;3<br />next&nbsp;line") == "I'm here <3 next line"
    assert normalise("double &amp;#39;escaped&amp;#39;") == "double 'escaped'"


def test_link_targets_survive_tag_stripping():
    assert normalise('see <a href="http://spam.example/x">this</a>') == "see http://spam.example/x this"


def test_invisible_characters_are_removed():
    assert normalise("great song\ufeff") == "great song"
    assert normalise("fr\u200bee mo\u200dney\u2060") == "free money"


def test_nfkc_and_whitespace():
    assert normalise("\uff26\uff32\uff25\uff25  \t offer\n\n") == "FREE offer"
    assert normalise("\ufb01ne") == "fine"


def test_empty_and_invisible_only():
    assert normalise("") == ""
    assert normalise(" \n\ufeff\u200b ") == ""


def test_policy_length_counts_code_points_of_the_stripped_text():
    assert policy_length("  abc  ") == 3
    assert policy_length("é" * 1500) == 1500
    assert policy_length("e\u0301") == 1  # NFC composes the accent, as a form counter would show one letter
