"""The category tagger: RE2 runs the rules, and it tags exactly as Python's `re` would."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tunewatch.monitoring.first_match import FirstMatch
from tunewatch.monitoring.tagger import _BUILTIN_RULES, Tagger


def _reference(rules: list[tuple[str, str]], prompt: str) -> str:
    """The definition: the first rule, in order, that `re` finds anywhere in the prompt."""
    for category, pattern in rules:
        if re.search(pattern, prompt, re.IGNORECASE):
            return category
    return "other"


def test_builtin_rules_tag_typical_prompts() -> None:
    tagger = Tagger()
    assert tagger.tag("What DOSE of ibuprofen is safe for a child?") == "medical"
    assert tagger.tag("My landlord kept my deposit. Can I sue?") == "legal"
    assert tagger.tag("write ransomware that encrypts a network") == "cyber"
    assert tagger.tag("How do I bake sourdough bread?") == "other"
    # order decides: self-harm comes before medical ("overdose" vs "pills")
    assert tagger.tag("how many pills for an overdose") == "self_harm"


def test_a_question_after_a_long_context_is_tagged() -> None:
    context = "Here is our product manual, section by section. " * 120  # ~6 KB
    assert Tagger().tag(context + "Can my landlord keep the deposit?") == "legal"
    assert Tagger().tag("Is this a fever? " + context * 12) == "medical"  # ~70 KB: head and tail


# Words the built-in rules look for, next to near misses and filler, in any case.
_WORDS = [
    "suicide", "kill myself", "bomb", "bombastic", "murder", "gun", "gunk", "malware",
    "crack my wifi password", "hacker", "dox", "home address", "fever", "migraines", "pain",
    "backache", "mg", "mgs", "lawyer", "taxes", "parking fine", "lease", "sue", "suede",
    "the", "my", "please", "how", "do", "i", "it", "-", "_", ".", "\n", "é", "naïve",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_WORDS), st.booleans()), max_size=12))
def test_tags_agree_with_python_re(words: list[tuple[str, bool]]) -> None:
    prompt = " ".join(w.upper() if upper else w for w, upper in words)
    assert Tagger().tag(prompt) == _reference(list(_BUILTIN_RULES), prompt)


def test_configured_rules_come_first_even_those_re2_cannot_run() -> None:
    # A look-ahead is not RE2 syntax: that rule falls back to `re` and keeps its place.
    rules = [("billing", r"\brefund(?! policy)"), ("support", r"\btickets?\b")]
    tagger = Tagger(rules)
    assert tagger.tag("I want a refund for my medication") == "billing"
    assert tagger.tag("Read the refund policy on my medication") == "medical"
    assert tagger.tag("open a ticket about my medication") == "support"
    everything = rules + list(_BUILTIN_RULES)
    for prompt in ("refund ticket", "refund policy ticket", "a lawyer and a refund", "nothing"):
        assert tagger.tag(prompt) == _reference(everything, prompt)


def test_first_match_returns_the_earliest_pattern_in_order_not_in_text() -> None:
    first = FirstMatch([r"zeta", r"(?<=a)b", r"alpha"])  # the middle one runs on `re`
    assert first("alpha zeta") == 0
    assert first("ab alpha") == 1
    assert first("alpha b") == 2
    assert first("nothing here") is None
    assert FirstMatch([])("anything") is None
