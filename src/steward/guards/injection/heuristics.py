"""The heuristic layer: weighted patterns of instruction override, role play, fake delimiters
and prompt-leak requests, combined into one score.

Each rule has a weight in (0, 1]; the score of a text is the noisy-or of the weights of the
rules it matches (1 - Π(1 - w)), so one strong rule or several weak ones reach the threshold.
A match inside quotes, in a text that asks about the phrase ("what does 'ignore previous
instructions' mean?"), counts a third: the text mentions an attack rather than making one.
Rules run on the normalised text (`normalize.py`), so look-alikes and spacing do not hide them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from steward.guards.injection.literals import Needles

__all__ = ["RULES", "HeuristicResult", "Rule", "score_text", "score_texts"]


def _gap(words: int) -> str:
    """Up to `words` words between two parts of a pattern, on one line."""
    return rf"(?:[^\S\n]*[^\s.!?]+){{0,{words}}}?[^\S\n]*[,:;]?[^\S\n]*"


_OVERRIDE_VERB = r"(?:ignore|ignores|ignoring|disregard|forget|skip|bypass|override|overrule|drop|abandon|discard|neglect|set aside|put aside|stop following|do not follow|don't follow|no longer follow)"
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|existing|current|all|any|every|your|the|system|developer)"
_RULES_NOUN = r"(?:instructions?|rules?|prompts?|directives?|directions?|guidelines?|constraints?|polic(?:y|ies)|programming|restrictions?|guardrails?|safeguards?|task|orders?|commands?|configuration|system message|training)"
_MODEL = (
    r"(?:ai|a\.i\.|assistant|assistants|language models?|llms?|chat ?bots?|bots?|gpt|model|agent)"
)
_LEAK_VERB = r"(?:repeat|repeating|restating|print|write|show|reveal|output|display|dump|leak|recite|paste|echo|quote|spell|write out|tell me|give me|share|disclose|expose|translate|summari[sz]e|encode|restate|read out|list)"
_LEAK_OBJECT = r"(?:(?:your|the)(?: full| entire| exact| whole| original| complete)? system (?:prompt|message)|initial prompt|original prompt|hidden prompt|your (?:full |exact |original |secret |hidden |initial )?(?:instructions|prompt|rules|guidelines|configuration|directives)|the (?:text|words|message|messages|content) (?:above|before)(?! the fold)|the (?:configuration|instructions|rules|prompt) you (?:received|were given|have been given)|everything (?:above|before)|(?:internal|secret|hidden) (?:reference )?(?:code|key|instructions))"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    weight: float
    regex: re.Pattern[str]


def _rule(name: str, weight: float, pattern: str, *, case: bool = False) -> Rule:
    flags = 0 if case else re.IGNORECASE
    return Rule(name, weight, re.compile(pattern, flags | re.MULTILINE))


RULES: tuple[Rule, ...] = (
    _rule(
        "override", 0.75, rf"\b{_OVERRIDE_VERB}\b{_gap(3)}\b{_PRIOR}\b{_gap(3)}\b{_RULES_NOUN}\b"
    ),
    _rule(
        "override-short",
        0.6,
        r"\b(?:ignore|disregard|forget) (?:everything|all of (?:that|this|the above)|the above|what (?:you were|i) (?:told|said) (?:you )?(?:before|earlier))\b",
    ),
    _rule(
        "override-foreign",
        0.75,
        r"\b(?:ignorez|oubliez|ignora|olvida|ignoriere|vergiss|ignoreer|negeer|ignore[mn]?)\b.{0,30}\b(?:instructions?|instrucciones|istruzioni|anweisungen|regeln|instructies|instruções|consignes|reglas)\b",
    ),
    _rule(
        "rules-suspended",
        0.6,
        rf"\b{_RULES_NOUN}\b{_gap(3)}\b(?:are|is|have been|has been) (?:now )?(?:suspended|lifted|disabled|void|cancell?ed|revoked|removed|no longer (?:apply|valid|in effect))\b",
    ),
    _rule(
        "new-instructions",
        0.6,
        r"\b(?:new|updated|revised|real|true|actual|additional|secret|hidden|override) (?:instructions?|directives?|system prompt|orders|rules|task)\s*(?::|(?:from|for) (?:the |this |all |any )?(?:assistant|ai|model|llm|developer|admin|system|operator|openai|you)\b|(?:are|is) (?:as follows|below|in effect|now in effect|to)\b)",
    ),
    _rule(
        "instruction-to-model",
        0.7,
        rf"\b(?:instructions?|directives?|note|message|notice|reminder|command|footnote|attention|p\.?s\.?)\b{_gap(2)}\b(?:to|for)\b(?: the| any| all)? {_MODEL}\b",
    ),
    _rule(
        "address-model",
        0.55,
        rf"(?:^|[\[(<>{{\"'.:!?#/-]\s*|\bdear |\bhey )(?:the )?{_MODEL}(?: assistants?)?(?: reading| processing| summari[sz]ing| parsing| analy[sz]ing)?(?: this(?: \w+)?)?\s*[:,]\s*(?:please )?(?:you )?(?:must|should|will|shall|ignore|disregard|forget|output|print|reply|respond|write|say|include|append|add|tell|send|stop|do not|don't|before|after|at the end|when|now|to show|remember)\b",
    ),
    _rule("if-you-are-ai", 0.6, rf"\bif you(?: are|'re) (?:an? )?{_MODEL}\b"),
    _rule(
        "ai-reading-this",
        0.6,
        rf"\b{_MODEL}s?\b(?: \w+)? (?:reading|processing|parsing|summari[sz]ing|that reads?|who reads?) (?:this|these)\b",
    ),
    _rule(
        "system-override",
        0.75,
        r"\b(?:system|admin|administrator|developer|root|sudo|operator|security) (?:override|command|update|alert|notice|mode|instruction|directive|message)\b\s*[:!-]",
    ),
    _rule(
        "role-delimiter",
        0.8,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>",
    ),
    _rule("role-tag", 0.65, r"</?(?:system|user|assistant|instructions?|admin|developer|sys)>"),
    _rule(
        "role-header",
        0.6,
        r"^[\s#*>\[(-]*(?:system|developer|admin|assistant instructions|system prompt|sys)\s*[\]):]\s*\S",
    ),
    _rule(
        "role-bracket",
        0.55,
        r"\[(?:system|admin|developer|operator|sys|assistant instructions?)(?: message| note| override)?\]",
    ),
    _rule(
        "role-json",
        0.65,
        r"[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']|[\"']_?(?:system|instructions?|prompt|assistant_directive)[\"']\s*:\s*[\"']",
    ),
    _rule(
        "end-of-input",
        0.55,
        r"\b(?:end of|---+ ?end of|the) (?:customer |user |the )?(?:input|message|article|document|conversation|email|context|prompt|data)\b(?: above)?(?: is over| has ended)?\s*[.\-:]*\s*(?:-{2,}|\n|\"\"\"|$)",
    ),
    _rule(
        "conversation-over",
        0.5,
        r"\b(?:the )?(?:conversation|session|task|chat) (?:above )?(?:is|has) (?:over|ended|finished|complete)\b",
    ),
    _rule(
        "persona-now",
        0.4,
        r"\byou are (?:now|no longer|going to (?:act|pretend|be)|free(?:d)?)\b|\bfrom now on,? you\b|\bact as (?:if you (?:have|had|were) no|an? (?:unfiltered|uncensored|unrestricted|jailbroken|evil|amoral))",
    ),
    _rule(
        "dan",
        0.8,
        r"\b(?:DAN|STAN|DUDE|AIM|BetterDAN|AntiGPT|DevMode)\b|\bdo anything now\b",
        case=True,
    ),
    _rule(
        "special-mode",
        0.35,
        r"\b(?:developer|dev|debug|god|jailbreak|jailbroken|unrestricted|unfiltered|diagnostic|maintenance|sudo|admin) mode\b",
    ),
    _rule(
        "mode-switch",
        0.75,
        r"\b(?:developer|dev|debug|god|jailbreak|jailbroken|unrestricted|unfiltered|diagnostic|maintenance|sudo|admin|DAN) mode\b[^.\n]{0,30}?\b(?:you|enabled|activated|on for this|never|can say|answers?|responses?)\b|\b(?:you are|you're|act|acting|operate|operating|respond|answer) (?:now )?(?:in|with) (?:developer|god|jailbreak|unrestricted|unfiltered|debug|DAN) mode\b",
    ),
    _rule(
        "no-rules",
        0.65,
        r"\b(?:no|without|free (?:of|from)|not bound by|doesn't have to (?:abide by|follow)|does not have to (?:abide by|follow)|escaped|broken free of|beyond)\b(?: any| the| its| your| all| typical)?(?: \w+)?(?: (?:ethical|moral|content|safety|openai|usual))?(?: or (?:moral|ethical))? (?:restrictions|filters|filter|limits|limitations|rules|guidelines|censorship|ethics|morals|boundaries|confines|guardrails|policies|safeguards)\b",
    ),
    _rule(
        "filters-off",
        0.7,
        rf"\b(?:safety|content|moderation) (?:filters?|guidelines|policies|restrictions|checks)\b{_gap(2)}(?:are|is|have been|has been) (?:now )?(?:disabled|turned off|off|removed|lifted|suspended|deactivated)\b",
    ),
    _rule(
        "never-refuse",
        0.5,
        r"\b(?:never|do not|don't|must not|will not|won't|cannot|can't|without) (?:refuse|refusing|decline|declining|apologi[sz]e|apologi[sz]ing|say(?:ing)? (?:no|sorry|you can't)|add(?:ing)? (?:warnings|disclaimers)|warn|moraliz|lectur|disclaimers?)\w*",
    ),
    _rule(
        "stay-in-character",
        0.45,
        r"\b(?:stay|remain|keep) in character\b|\bbreak(?:ing)? character\b",
    ),
    _rule("no-matter-what", 0.25, r"\bno matter what\b|\bwhatever (?:it takes|they say)\b"),
    _rule("leak", 0.7, rf"\b{_LEAK_VERB}\b{_gap(4)}{_LEAK_OBJECT}"),
    _rule(
        "leak-what",
        0.6,
        r"\bwhat (?:is|are|was|were) (?:your (?:system prompt|initial instructions|original instructions|hidden instructions|instructions|rules|internal reference code)|the (?:system prompt|hidden instructions|rules you were given))\b|\bwhat (?:rules|instructions) (?:were you|have you been) given\b",
    ),
    _rule(
        "leak-first",
        0.55,
        r"\b(?:first|initial|opening|previous) (?:\d+ )?(?:words|lines|sentences|message|messages|prompt)\b (?:of|in|from) (?:your|this|the) (?:prompt|instructions|conversation|context)\b|\bbefore this message\b",
    ),
    _rule(
        "decode-and-follow",
        0.65,
        rf"\b(?:decode|decipher|decrypt|reverse|unscramble|read|translate|convert|interpret)\b{_gap(6)}\b(?:and|then)\b{_gap(2)}\b(?:follow|obey|execute|do|comply|act on|carry out|answer|respond to|perform)\b",
    ),
    _rule(
        "do-what-it-says",
        0.6,
        r"\b(?:do|follow|execute|obey) (?:exactly )?(?:what|whatever) (?:it|the (?:sentence|text|message|line|string|note|decoded text)|this) (?:says|tells you|asks)\b",
    ),
    _rule("execute-it", 0.5, r"\b(?:execute|run|obey) (?:it|this|them|these)\b.{0,5}(?:\)|$|\.|:)"),
    _rule("exfil-image", 0.55, r"!\[[^\]]*\]\(https?://[^)\s]*\?[^)\s]*=[^)\s]*\)"),
    _rule(
        "exfil-include",
        0.5,
        r"\binclude (?:this|the following) (?:image|link|url|markdown)\b|\breplaced? by your (?:internal|system|secret)\b",
    ),
    _rule(
        "output-only",
        0.35,
        r"\b(?:reply|respond|answer|output|say|print|write)(?: \w+){0,3} (?:only|exactly|just|nothing (?:else|but))\b|\bonly (?:reply|respond|answer|output) with\b",
    ),
    _rule(
        "must-output",
        0.4,
        r"\b(?:must|shall|will|should) (?:now )?(?:say|output|print|include|append|begin with|start with|end with|reply with|tell the (?:user|customer))\b",
    ),
    _rule(
        "pretend",
        0.35,
        r"\bpretend (?:to be|you are|you're)\b|\broleplay as\b|\bplay the role of\b",
    ),
    _rule(
        "hypothetical-no-rules",
        0.55,
        r"\b(?:simulation|hypothetical world|fictional world|alternate universe|parallel universe|a world)\b.{0,40}\b(?:no (?:laws|rules|ethics|consequences)|nothing is real|anything goes|everything is legal)\b",
    ),
    _rule(
        "opposite",
        0.5,
        r"\bopposite day\b|\b(?:evil|dark|shadow|unfiltered|uncensored|unrestricted) (?:twin|version|mode|ai|assistant|confidant|alter ego)\b",
    ),
    _rule(
        "grandma",
        0.45,
        r"\b(?:grand(?:ma|mother|pa|father)|nan|granny)\b.{0,80}\bused to (?:tell|read|sing|explain)\b",
    ),
    _rule(
        "compliance-prefix",
        0.45,
        r"\b(?:begin|start) (?:your (?:reply|answer|response)|with)\b.{0,20}[\"'](?:sure|absolutely|of course|certainly)",
    ),
    _rule(
        "authority",
        0.45,
        r"\bi am (?:the|your|an?) (?:lead |senior |chief )?(?:developer|creator|administrator|admin|owner|operator|engineer) (?:of|who (?:built|wrote|made))\b",
    ),
    _rule(
        "authorised",
        0.3,
        r"\bauthori[sz]ed (?:test|request|penetration|override|exercise)\b|\bsanctioned (?:test|exercise)\b",
    ),
    _rule(
        "encoded-directive",
        0.45,
        r"\b(?:base64|rot13|rot-13|hex|encoded|backwards|reversed|leetspeak)\b.{0,40}\b(?:directive|instruction|command|execute|obey|follow)\b",
    ),
)

RULES += (
    _rule(
        "hidden-comment",
        0.6,
        rf"<!--[^>]{{0,200}}?\b(?:{_MODEL}|instructions?|ignore|disregard|system|prompt)\b",
    ),
    _rule(
        "model-colon",
        0.55,
        rf"(?:^|[\[(<>{{\"'.:!?#/-]\s*)(?:the )?{_MODEL}\s*:\s*[^\n]{{0,60}}?\b(?:reply|respond|output|print|say|write|tell|ignore|disregard|append|include|must|should|from now on)\b",
    ),
    _rule(
        "model-role-must",
        0.6,
        rf"\b{_MODEL} (?:reviewers?|agents?|systems?|tools?|screeners?|readers?|crawlers?) (?:must|should|shall|are required to|have to)\b",
    ),
    _rule(
        "your-secret",
        0.55,
        r"\byour (?:internal|secret|hidden|confidential) (?:reference )?(?:code|key|password|token|instructions|prompt|rules)\b",
    ),
    _rule(
        "in-your-instructions",
        0.5,
        r"\b(?:appears?|written|stated|given|in|from) your (?:instructions|system prompt|initial prompt|configuration|hidden rules)\b",
    ),
)

_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_META = re.compile(
    r"\b(?:what does|what is|what's|mean|meaning|explain|example of|examples of|detect|defend|"
    r"protect|prevent|mitigat\w*|classif\w*|attack|attacks|security|researchers?|paper|phrase|movie|"
    r"film|book|song|title|called|named|"
    r"why do|how do (?:i|we|you) (?:stop|block|detect|handle))\b",
    re.IGNORECASE,
)
_MENTION_FACTOR = 0.3
_NEEDLES = Needles([rule.regex for rule in RULES])
"""Rules whose literals a text lacks are not searched (`literals.py`): on 1,000 ordinary
characters that leaves a few of the rules' searches, not all of them. Built at import, in
about 40 ms; the module is imported when a model's injection guard is built."""


@dataclass(frozen=True, slots=True)
class HeuristicResult:
    score: float
    rules: tuple[str, ...] = ()


def score_text(text: str) -> HeuristicResult:
    """The noisy-or of the weights of the rules `text` matches, and their names."""
    meta = None
    miss = 1.0
    names: list[str] = []
    for rule, possible in zip(RULES, _NEEDLES.possible(text), strict=True):
        if not possible:
            continue
        match = rule.regex.search(text)
        if match is None:
            continue
        weight = rule.weight
        if _quoted(text, match.start(), match.end()):
            if meta is None:
                meta = _META.search(text) is not None
            if meta:
                weight *= _MENTION_FACTOR
        miss *= 1.0 - weight
        names.append(rule.name)
    return HeuristicResult(1.0 - miss, tuple(names))


def score_texts(texts: Iterable[str]) -> HeuristicResult:
    """The best of several readings of one text (its views)."""
    best = HeuristicResult(0.0)
    for text in texts:
        result = score_text(text)
        if result.score > best.score:
            best = result
    return best


def _quoted(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 2) : start]
    after = text[end : end + 40]
    return any(q in before for q in _QUOTES) and any(q in after for q in _QUOTES)
