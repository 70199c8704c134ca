"""Article-comment spam signals (moderation.webspam) and the spam made for training (training.augment)."""

import random

import numpy as np
import pytest

from moderation.webspam import WEBSPAM_NAMES, WebSpamSignals, compile_lists, literals, phone_digits
from training import augment, datasets

LISTS = {
    "keywords": [r"alpha\W?fuel\W?testo", r"(?:cheap|best)\W?essay\W?writ(?:ing|ers)", r"fifa.{0,20}?coins?"],
    "websites": [r"pub4sure\.com", r"healthcaresup"],
    "numbers": ["1-877-778-8969", "+1 (844) 555-0100"],
}


def signals(text, lists=LISTS):
    row = WebSpamSignals(compile_lists(**lists)).fit().transform([text])[0]
    return {name: round(float(v), 3) for name, v in zip(WEBSPAM_NAMES, row)}


def test_list_patterns_expand_to_their_literal_strings_and_open_ended_ones_are_left_out():
    found, used = literals(LISTS["keywords"])
    assert {"alphafueltesto", "cheapessaywriting", "bestessaywriters", "cheapessaywriters"} <= found
    assert used == 2  # "fifa.{0,20}?coins?" matches an open-ended set: its parts alone would match far more
    assert not any(s.startswith("fifa") for s in found)


def test_listed_keywords_websites_and_numbers_are_found_in_any_spelling():
    assert signals("Try Alpha-Fuel Testo today")["listed_keywords"] > 0
    assert signals("I use alpha fuel testo")["listed_keywords"] > 0
    assert signals("nothing listed here at all")["listed_keywords"] == 0
    assert signals("more at http://www.pub4sure.com/offer")["listed_websites"] > 0
    assert signals("see https://healthcaresupplements.net")["listed_websites"] > 0
    assert signals("call 1 877 778 8969 now")["listed_numbers"] > 0
    assert signals("call 18777788969 now")["listed_numbers"] > 0


def test_a_phone_number_is_a_support_number_only_near_support_words():
    assert signals("Delta Airlines customer service number +1-888-555-0199")["support_phone"] > 0
    assert signals("For reservations call (855) 555 0123, open 24/7")["support_phone"] > 0
    far = "Call us. " + "The council met again on Tuesday to discuss the new budget. " * 4 + "Dial 555-123-4567"
    assert signals(far.replace("Dial ", ""))["support_phone"] == 0
    # digits in code or a longer number are not a phone number
    assert phone_digits("error 0x12345678901 at support.py line 1234567") == []
    assert signals("My number is 555-123-4567, see you at the meeting")["support_phone"] == 0


def test_links_are_told_apart_by_host_not_by_path():
    assert signals("Visit bestessaywriters.net for help")["commercial_link"] > 0
    assert signals("Thanks for sharing, very informative. Visit showbox,com")["written_domain"] > 0
    assert signals("Hello, come here and read the report, committee members")["written_domain"] == 0
    wiki = signals("Source: https://en.wikipedia.org/wiki/Battle_of_Mosul_(2016-2017)")
    assert wiki["reference_link"] > 0 and wiki["commercial_link"] == 0
    # a tutorial's "/remove-virus/" or "/download" path does not make its host commercial
    assert signals("https://www.malwarebytes.com/mac-download/ worked for me")["commercial_link"] == 0
    assert signals("http://pillsrx.xyz")["link_only"] > 0
    assert signals("I read http://example.org/report and it says the opposite of what you claim")["link_only"] == 0


def test_a_reference_or_a_machine_on_the_desk_is_no_advert():
    for text in ("The docs say otherwise: https://docs.docker.com/compose/",
                 "My config: location / { proxy_pass http://127.0.0.1:8000; }",
                 "See https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS"):
        row = signals(text)
        assert row["reference_link"] > 0 and row["advert_share"] == 0 and row["commercial_link"] == 0, text
    # hosts that only look commercial inside a longer word
    for host in ("learnpython.org", "hackernoon.com", "nonprofit.org", "notebookreview.com"):
        assert signals(f"I found this on https://{host}/page and it helped")["commercial_link"] == 0, host
    assert signals("Best essays at https://essayreviews.com")["commercial_link"] > 0


def test_a_written_out_domain_is_not_a_comma_in_english_or_code():
    assert signals("Visit showbox,com or site (dot) com")["written_domain"] > 0
    assert signals("They came for help, in the end, and for us, in short")["written_domain"] == 0
    assert signals("k,a,p,q=loadstring,arg,io.write,print")["written_domain"] == 0


def test_a_support_number_ending_a_sentence_or_spelt_with_symbols_is_found():
    assert signals("If your printer is offline, call our support team at 1-877-301-0214. We help 24/7.")[
        "support_phone"] > 0
    for number in ("+1 ➤ 888 ➤ 829 ➤ 0881", "1//888//829//0881", "+1 -805 -250 -8524"):
        assert phone_digits(f"Expedia bookings: dial {number} now")[0].endswith("0881" if "0881" in number else "8524")
        assert signals(f"To change your flight, call {number} (24/7)")["support_phone"] > 0


def test_generic_praise_around_an_advert():
    assert signals("Great post, thanks for sharing! Very informative. https://bestloans24.net")["praise_advert"] > 0.5
    assert signals("Great post, thanks for sharing! Very informative.")["praise_advert"] == 0
    assert signals("Great post, thanks! My fork: https://github.com/jdoe/tool")["praise_advert"] == 0
    assert signals("I get a 502 from nginx when the app at http://myhost.net:8000 restarts")["praise_advert"] < 0.2


def test_dates_addresses_versions_and_codes_are_not_phone_numbers():
    from moderation.features import PHONE

    for text in ("build 19045.3693 fails", "2023-10-17 15:44:38,910 ERROR", "host 192.168.1.20:5432 refused",
                 "error 0x80070005", "Windows 10.0.19041.1234"):
        assert PHONE.findall(text) == [], text
    for text in ("Call 09061701461 now", "+44 7700 900123", "call09050000327.", "ur mob no.07123456789",
                 "call 800.555.1234 now", "Delta 1-877-301-0214."):
        assert PHONE.findall(text), text


def test_a_block_fitted_before_the_praise_signal_keeps_its_columns():
    block = WebSpamSignals(compile_lists(**LISTS)).fit()
    assert block.transform(["Great post! Visit bestloans24.net"]).shape == (1, len(WEBSPAM_NAMES))
    block.n_features_out_ = len(WEBSPAM_NAMES) - 1  # as pickled in a model saved before praise_advert
    assert block.rows(["Great post! Visit bestloans24.net"]).shape == (1, len(WEBSPAM_NAMES) - 1)


def test_signals_are_bounded_and_empty_lists_give_shape_signals_only():
    row = WebSpamSignals(None).fit().transform(["alpha fuel testo " * 50 + " http://cheap-pills.xyz " * 20])[0]
    assert np.all((row >= 0) & (row <= 1))
    assert row[WEBSPAM_NAMES.index("listed_keywords")] == 0
    assert row[WEBSPAM_NAMES.index("commercial_link")] > 0


def test_article_spam_is_made_of_the_training_comments_plus_an_advert():
    hosts = [datasets.Example(f"The council vote on budget line {i} was closer than expected.", "ham", "fox")
             for i in range(300)]
    made = augment.article_spam(hosts, LISTS, seed=1)
    again = augment.article_spam(hosts, LISTS, seed=1)
    assert [e.text for e in made] == [e.text for e in again]  # seeded: a training run is reproducible
    spam = [e for e in made if e.label == "spam"]
    ham = [e for e in made if e.label == "ham"]
    assert len(spam) == 300 * augment.PER_HUNDRED_HAM // 100
    assert {e.source for e in made} == {augment.SOURCE}
    host_texts = {h.text for h in hosts}
    with_host = [e for e in spam if any(e.text.startswith(h) or e.text.endswith(h) for h in host_texts)]
    assert len(with_host) > len(spam) / 3  # most adverts ride on a real comment
    assert not host_texts & {e.text for e in spam}  # no host is itself labelled spam
    # the counterfactual halves: praise alone and comments citing a reference stay legitimate
    assert set(augment.PRAISE) <= {e.text for e in ham}
    cited = [e for e in ham if "https://" in e.text]
    assert cited and any(any(h in e.text for h in host_texts) for e in cited)
    # a tutorial's readers (an error, a command, a bit of code) are legitimate, and spam with an advert added
    readers = [e.text for e in ham if e.text not in augment.PRAISE and "://" not in e.text]
    assert len(readers) == len(spam) // 4
    assert any(e.text.startswith(r) for e in spam for r in readers)
    plain = augment.article_spam(hosts, LISTS, seed=1, tutorial=False)
    assert not {e.text for e in plain} & set(readers)


def test_list_parts_are_disjoint_and_cover_the_lists():
    lists = {"keywords": [f"word{i}" for i in range(200)], "websites": [f"site{i}\\.com" for i in range(200)],
             "numbers": [f"1-800-555-{i:04d}" for i in range(200)]}
    a, b = augment.list_part(lists, 0), augment.list_part(lists, 1)
    for name in lists:
        assert not set(a[name]) & set(b[name])
        assert sorted(a[name] + b[name]) == sorted(lists[name])
        assert a[name] and b[name]


@pytest.mark.realdata
def test_the_shared_lists_compile_fast_and_mostly(data_dir):
    raw = augment.load_lists(data_dir / "smokedetector")
    compiled = compile_lists(**raw)
    assert compiled["used"]["keywords"] >= 0.8 * len(raw["keywords"])
    assert compiled["used"]["websites"] >= 0.95 * len(raw["websites"])
    assert compiled["used"]["numbers"] >= len(raw["numbers"])
    signal = WebSpamSignals(compiled).fit()
    row = signal.transform(["Buy tosterone and exoslim at http://pub4sure.com or call 1-816-787-3816"])[0]
    for name in ("listed_keywords", "listed_websites", "listed_numbers"):
        assert row[WEBSPAM_NAMES.index(name)] > 0, name


def test_the_lean_scorer_serves_a_model_with_the_article_spam_signals(small_examples):
    """The single-comment scorer reproduces the pipeline with the webspam block (else serving falls back)."""
    from moderation.features import build_spam_pipeline
    from moderation.scorer import PROBES, compile_scorer

    rng = random.Random(3)
    examples = rng.sample(small_examples, 600)
    examples += augment.article_spam(examples, LISTS, seed=2)
    pipeline = build_spam_pipeline(calibration_folds=3, webspam_lists=compile_lists(**LISTS)).fit(
        [e.text for e in examples], np.array([e.is_spam for e in examples]))
    scorer = compile_scorer(pipeline)
    assert scorer is not None
    texts = PROBES + ["Call Delta customer service +1-888-555-0199", "Visit bestessaywriters.net now"]
    assert np.allclose(scorer(texts), pipeline.predict_proba(texts)[:, 1], atol=1e-6)
