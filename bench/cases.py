"""The (person, document) pairs every measurement decides, in a fixed order.

Drawn so that allows and every kind of deny occur: most pairs put a person beside a document of a
designation whose roster names them (where the other requirements decide), the rest are random
pairs (mostly need-to-know denials), unclassified documents, and unknown persons or documents.
"""

from __future__ import annotations

import random
from typing import Any

Case = tuple[str, str]  # (person id, document id)


def prepare_cases(bundle: dict[str, Any], count: int, seed: int = 11) -> list[Case]:
    rng = random.Random(seed)
    persons = [p["id"] for p in bundle["persons"]]
    classified, unclassified = [], []
    by_designation: dict[str, list[str]] = {}
    for doc in bundle["documents"]:
        if doc["designation_id"] is None:
            unclassified.append(doc["id"])
        else:
            classified.append(doc["id"])
            by_designation.setdefault(doc["designation_id"], []).append(doc["id"])
    on_roster = [(r["person_id"], r["designation_id"]) for r in bundle["rosters"]]
    cases: list[Case] = []
    for i in range(count):
        r = rng.random()
        if r < 0.60:
            person, designation = rng.choice(on_roster)
            cases.append((person, rng.choice(by_designation[designation])))
        elif r < 0.82:
            cases.append((rng.choice(persons), rng.choice(classified)))
        elif r < 0.94:
            cases.append((rng.choice(persons), rng.choice(unclassified)))
        elif r < 0.97:
            cases.append((f"P-UNKNOWN-{i}", rng.choice(classified)))
        else:
            cases.append((rng.choice(persons), f"DOC-UNKNOWN-{i}"))
    return cases
