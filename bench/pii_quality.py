"""PII guard quality: precision and recall per entity type on labeled synthetic texts.

    python bench/pii_quality.py [--texts 400] [--seed 7] [--threshold 0.5]

Each text is a template from the kind of messages support bots get, filled with values from
Faker (seeded; US English, names also from eight other locales), so every span's entity type is known exactly. Some values are
formatted the way people write them (card numbers in groups, IBANs with and without spaces,
phone numbers with assigned US area codes in four styles). A finding counts as a true positive when its type matches and
it overlaps a labeled span; precision is over findings of that type, recall over labeled spans.
Needs Presidio and the spaCy model (Python 3.12+, `make install`). Numbers in docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from dataclasses import dataclass

from faker import Faker

from steward.guards.pii.engine import PIIEngine

ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "PERSON")
# Assigned US area codes: phone validation (the phonenumbers library) rightly rejects numbers
# whose area code does not exist, so random three-digit codes would test the generator.
AREA_CODES = ("212", "213", "303", "305", "312", "347", "404", "415", "503", "512", "617", "646")
AREA_CODES += ("702", "713", "718", "801", "917", "206", "602", "919", "720", "971")
# 40% of names come from these locales (Faker's own name lists), one in ten is written in
# lower case, as people type in chat.
NAME_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "en_IN", "pt_BR", "nl_NL", "pl_PL")
TEMPLATES = [
    "Hi, I'm {PERSON} and my order never arrived. You can email me at {EMAIL_ADDRESS}.",
    "Please update the phone number on my account to {PHONE_NUMBER}.",
    "My card {CREDIT_CARD} was charged twice for the same order.",
    "Refund to IBAN {IBAN_CODE} please, the account holder is {PERSON}.",
    "For the tax form my SSN is {US_SSN}.",
    "{PERSON} asked me to forward this: reach her on {PHONE_NUMBER} or {EMAIL_ADDRESS}.",
    "Can you cancel the subscription for {EMAIL_ADDRESS}? Thanks, {PERSON}",
    "I spoke with {PERSON} yesterday about the invoice but nobody called back.",
    "Billing details: card number {CREDIT_CARD}, name on card {PERSON}.",
    "The transfer came from {IBAN_CODE} on Monday.",
    "Social security number: {US_SSN}, date of the claim last Tuesday.",
    "call me back at {PHONE_NUMBER} after 5pm",
    "my email is {EMAIL_ADDRESS} and my name is {PERSON}",
    "Dear support, {PERSON} here. Card {CREDIT_CARD} expired, please use the new one.",
    "Why was my account closed? It is registered to {EMAIL_ADDRESS}.",
    "We met {PERSON} and {PERSON} at the store; they said to write to {EMAIL_ADDRESS}.",
]


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int


def value(fake: Faker, names: list[Faker], entity: str, rng: random.Random) -> str:
    if entity == "PERSON":
        name = str(rng.choice(names).name()) if rng.random() < 0.4 else str(fake.name())
        return name.lower() if rng.random() < 0.1 else name
    if entity == "EMAIL_ADDRESS":
        return str(fake.email())
    if entity == "PHONE_NUMBER":
        digits = f"{rng.choice(AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        styles = [
            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
            f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}",
            f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
        ]
        return rng.choice(styles)
    if entity == "CREDIT_CARD":
        number = str(
            fake.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex"]))
        )
        return (
            " ".join(number[i : i + 4] for i in range(0, len(number), 4))
            if rng.random() < 0.5
            else number
        )
    if entity == "IBAN_CODE":
        iban = str(fake.iban())
        return (
            " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            if rng.random() < 0.5
            else iban
        )
    return str(fake.ssn())


def generate(n: int, seed: int) -> list[tuple[str, list[Span]]]:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    names = [Faker(locale) for locale in NAME_LOCALES]
    for i, other in enumerate(names):
        other.seed_instance(seed + i)
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        template = TEMPLATES[i % len(TEMPLATES)]
        text, spans, rest = "", [], template
        while "{" in rest:
            before, _, tail = rest.partition("{")
            entity, _, rest = tail.partition("}")
            text += before
            filled = value(fake, names, entity, rng)
            spans.append(Span(entity, len(text), len(text) + len(filled)))
            text += filled
        texts.append((text + rest, spans))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=0.35)
    args = parser.parse_args()
    engine = PIIEngine()
    started = time.perf_counter()
    engine.load()
    print(f"load {time.perf_counter() - started:.1f} s")
    tp, fp, fn = Counter[str](), Counter[str](), Counter[str]()
    for text, spans in generate(args.texts, args.seed):
        found = engine.analyze(text, ENTITIES, args.threshold)
        for f in found:
            hit = any(s.entity == f.entity and s.start < f.end and f.start < s.end for s in spans)
            (tp if hit else fp)[f.entity] += 1
        for s in spans:
            if not any(f.entity == s.entity and s.start < f.end and f.start < s.end for f in found):
                fn[s.entity] += 1
    print(f"{args.texts} texts, threshold {args.threshold}")
    print(f"{'entity':<14} {'labeled':>7} {'found':>6} {'precision':>9} {'recall':>7}")
    for entity in ENTITIES:
        labeled = tp[entity] + fn[entity]
        found_n = tp[entity] + fp[entity]
        precision = tp[entity] / found_n if found_n else float("nan")
        recall = tp[entity] / labeled if labeled else float("nan")
        print(f"{entity:<14} {labeled:>7} {found_n:>6} {precision:>9.1%} {recall:>7.1%}")


if __name__ == "__main__":
    main()
