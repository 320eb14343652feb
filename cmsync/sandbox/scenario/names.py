"""Word lists for the scenario generator: plausible companies and people, plus the traps."""

from __future__ import annotations

__all__ = [
    "COUNTRIES",
    "FIRST_NAMES",
    "FREEMAIL_DOMAINS",
    "LAST_NAMES",
    "NAME_ADJECTIVES",
    "NAME_NOUNS",
    "NAME_SUFFIXES",
    "TRAP_COMPANY_NAMES",
]

NAME_ADJECTIVES = (
    "Acme", "Blue", "Bright", "Cedar", "Copper", "Delta", "Ember", "Falcon", "Granite", "Harbor",
    "Indigo", "Juniper", "Keystone", "Lumen", "Maple", "Nimbus", "Orbit", "Pioneer", "Quartz",
    "Redwood", "Summit", "Tidal", "Umbra", "Vertex", "Willow", "Zenith",
)  # fmt: skip
NAME_NOUNS = (
    "Analytics", "Labs", "Systems", "Software", "Networks", "Logistics", "Health", "Robotics",
    "Media", "Data", "Cloud", "Security", "Foods", "Energy", "Studios", "Payments", "Learning",
)  # fmt: skip
NAME_SUFFIXES = ("Inc", "Ltd", "GmbH", "LLC", "SAS", "BV", "Co")

# Names that break naive code: unicode, quotes and backslashes (SOQL metacharacters).
TRAP_COMPANY_NAMES = (
    "Zürich Präzision AG",
    "Ōsaka Kōgyō 株式会社",
    "Ñandú Técnica S.A.",
    "O'Reilly & Daughters",
    'The "Quoted" Company',
    "Back\\slash Holdings",
    "Smörgås' Data\\Works",
    "Ελληνικά Cloud",
)

FIRST_NAMES = (
    "Ada", "Ben", "Chloé", "Dmitri", "Elena", "Farah", "Gustav", "Hana", "Ivan", "Jonas",
    "Kai", "Lena", "Marta", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Vera", "Wei", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Horvat", "Ito",
    "Jensen", "Kowalski", "Larsen", "Müller", "Novak", "O'Brien", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Ueda", "Vargas", "Weber", "Young", "Zhang",
)  # fmt: skip
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "NL", "JP", "BR", "AU", "CA", "ES")
FREEMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "proton.me")
