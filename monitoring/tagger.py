"""A lightweight prompt tagger that puts live traffic into drift categories.

Keyword rules, not a model: live categories only need to be good enough to group traffic, and
the tagger runs on every request. Rules from the config are tried first, so a team can map
its own domain vocabulary; the header `X-Tunewatch-Category` overrides both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tunewatch.monitoring.first_match import FirstMatch

_BUILTIN_RULES: tuple[tuple[str, str], ...] = (
    ("self_harm", r"\b(suicid\w*|kill (myself|me)|end (my|it all)|self[- ]harm\w*|cut(ting)? myself"
     r"|overdos\w*|want to die|hurt myself|my (own )?death|not (be|being) alive)\b"),
    ("weapons", r"\b(bomb|explosive\w*|detonat\w*|nerve agent|sarin|anthrax|bioweapon\w*|"
     r"chemical weapon\w*|dirty bomb|nuclear weapon\w*|ricin|pipe bomb)\b"),
    ("violent_crimes", r"\b(murder\w*|kill (him|her|them|someone|my)|assault\w*|kidnap\w*|"
     r"poison (him|her|them|someone)|shoot (him|her|them|someone|up)|stab\w*|gun|firearm\w*)\b"),
    ("cyber", r"\b(malware|ransomware|keylogger|exploit\w*|phishing|sql injection|ddos|botnet|"
     r"hack\w*|backdoor|rootkit|crack\b.{0,30}\b(password|wifi|wi-fi|login)\w*|zero[- ]day|"
     r"payload|session cookies?|break into\b.{0,30}\b(system|server|account|network|database)|"
     r"spyware|credential\w*)\b"),
    ("privacy", r"\b(home address|phone number of|social security|ssn|dox\w*|track (someone|my "
     r"(wife|husband|ex|partner))|personal (data|information) (of|about)|where does .* live)\b"),
    ("medical", r"\b(symptom\w*|diagnos\w*|medication\w*|medicine\w*|dose|dosage|mg\b|prescri\w*|"
     r"doctor|treatment\w*|disease\w*|infection\w*|pain\w*|ache\w*|\w+aches?|fever|"
     r"blood pressure|diabetes|pregnan\w*|antibiotic\w*|ibuprofen|paracetamol|acetaminophen|"
     r"rash\w*|vaccin\w*|cancer|surgery|constipat\w*|diarrh\w*|nause\w*|vomit\w*|"
     r"heartburn|reflux|cramps?|sore throat|cough\w*|cold sores?|flu|allerg\w*|asthma|acne|"
     r"eczema|dandruff|sunburn\w*|sprain\w*|insomnia|migraines?|poisoning|wounds?|"
     r"bruis\w*|itch\w*|inflam\w*|cholesterol|arthritis|thyroid|injur\w*|pills?|"
     r"tablets?|side effects?)\b"),
    ("legal", r"\b(lawsuit|sue|lawyer|attorney|legal\w*|court|contract\w*|landlord|tenant|"
     r"evict\w*|custody|divorce|copyright|lease|will and testament|liabilit\w*|arrest\w*|"
     r"visa|immigration|employment law|fired|cease and desist|sell my (car|house)|small claims|"
     r"deposit|warrant\w*|probate|trademark|tax(es)?|"
     r"(parking|speeding|traffic) (fine|ticket)s?)\b"),
)  # fmt: skip


# Characters tagged at each end of a long prompt: RE2 takes ~2 µs a KiB, so 32 KiB is cheap.
_EDGE = 16_384


class Tagger:
    """The first rule (configured ones, then the built-in ones) that matches the prompt wins."""

    def __init__(self, extra_rules: Sequence[tuple[str, str]] = (), default: str = "other") -> None:
        rules = list(extra_rules) + list(_BUILTIN_RULES)
        self._categories = [category for category, _ in rules]
        self._first = FirstMatch([pattern for _, pattern in rules], ignore_case=True)
        self.default = default

    def tag(self, prompt: str) -> str:
        text = prompt
        if len(prompt) > 2 * _EDGE:  # a long context: the question is near its start or end
            text = prompt[:_EDGE] + "\n" + prompt[-_EDGE:]
        first = self._first(text)
        return self.default if first is None else self._categories[first]


def allowed_category(header: str | None, known: Iterable[str]) -> str | None:
    """A category named by a request header is used only if configured: label values never
    come from request input."""
    if header and header in set(known):
        return header
    return None
