"""The demo's world: its agents, departments, numbers and the weights that shape its calls."""

from __future__ import annotations

from typing import NamedTuple


class Agent(NamedTuple):
    """A demo agent."""

    id: str
    name: str
    department: str
    languages: tuple[str, ...]


class Department(NamedTuple):
    """A demo department: its outbound number, campaigns and wrap-up vocabulary."""

    outbound_did: str
    campaigns: tuple[str, ...]
    dispositions: tuple[str, ...]
    topics: tuple[str, ...]


# Names in several scripts and with accents, so sorting, fonts and file writers meet real text.
AGENTS = (
    Agent("AG-101", "Ananya Sharma", "Sales", ("en", "hi")),
    Agent("AG-102", "अर्जुन मेहता", "Sales", ("hi",)),
    Agent("AG-103", "Дмитрий Смирнов", "Sales", ("ru", "en")),
    Agent("AG-201", "Νίκος Παπαδόπουλος", "Support", ("el", "en")),
    Agent("AG-202", "Мария Иванова", "Support", ("ru",)),
    Agent("AG-203", "Zoë Müller", "Support", ("de", "en")),
    Agent("AG-301", "José Núñez", "Billing", ("es", "en")),
    Agent("AG-302", "प्रिया पटेल", "Billing", ("hi", "en")),
    Agent("AG-303", "Siobhán O'Connor", "Billing", ("en",)),
    Agent("AG-401", "فاطمة الزهراء", "Collections", ("ar", "en")),
    Agent("AG-402", "François Lefèvre", "Collections", ("fr",)),
    Agent("AG-403", "Rahul Verma", "Collections", ("hi", "en")),
)

DEPARTMENTS = {
    "Sales": Department(
        "+91 80 4718 2201",
        ("Premium Upsell", "Win-back Q3"),
        ("Interested", "Not Interested", "Sale Closed", "Call Back Later"),
        ("pricing", "upgrade", "discount, pricing", "new plan"),
    ),
    "Support": Department(
        "+91-22-6123-4500",
        ("CSAT Follow-up",),
        ("Resolved", "Escalated", "Follow-up Needed"),
        ("login issue", "outage", "device setup", "app crash, login issue"),
    ),
    "Billing": Department(
        "+91-22-6123-4510",
        ("Auto-pay Enrolment",),
        ("Payment Clarified", "Refund Initiated", "Invoice Resent"),
        ("refund", "invoice", "billing, refund", "late fee"),
    ),
    "Collections": Department(
        "+91 124 455 7701",
        ("Payment Reminder", "Payment Reminder — Final"),
        ("Promise to Pay", "Paid", "Disputed", "Wrong Number"),
        ("overdue", "payment plan", "dispute"),
    ),
}

# (number dialled, department it routes to, campaign it was advertised with, weight)
INBOUND_DIDS = (
    ("+91 80 4718 2200", "Sales", None, 22),
    ("+91 80 4718 2288", "Sales", "Festive Offer — दिवाली", 10),
    ("1800-419-0101", "Support", None, 33),
    ("+1-415-555-0199", "Support", None, 5),
    ("+91-22-6123-4510", "Billing", None, 18),
    ("+91 124 455 7700", "Collections", None, 12),
)

STATUS_WEIGHTS = {
    "inbound": {"answered": 72, "missed": 13, "cancelled": 7, "noanswer": 3, "busy": 2, "failed": 3},
    "outbound": {"answered": 55, "noanswer": 20, "busy": 9, "failed": 6, "cancelled": 6, "missed": 4},
}
CALL_TYPE_WEIGHTS = {
    "inbound": {"ivr": 85, "transfer": 15},
    "outbound": {"campaign": 45, "click2call": 35, "manual": 20},
}
# "caller" is whoever placed the call: the customer inbound, the agent (or dialler) outbound.
HANGUP_WEIGHTS: dict[str, dict[str | None, int]] = {
    "answered": {"customer": 52, "agent": 40, "system": 4, None: 4},
    "missed": {"system": 60, "customer": 35, None: 5},
    "cancelled": {"caller": 90, None: 10},
    "busy": {"system": 85, None: 15},
    "noanswer": {"system": 85, None: 15},
    "failed": {"system": 60, None: 40},
}
RING_SECONDS = dict(answered=(2, 25), missed=(15, 30), noanswer=(25, 45), busy=(1, 6), failed=(0, 4), cancelled=(2, 20))
WAIT_MEAN_SECONDS = {"answered": 30, "missed": 60, "cancelled": 40}
# Share of unanswered inbound calls that still name the agent who was rung.
AGENT_KEPT = {"missed": 0.45, "noanswer": 0.5, "cancelled": 0.2, "busy": 0.1, "failed": 0.05}
STATUS_DISPOSITION = dict(missed="Missed", cancelled="Abandoned", busy="Busy", noanswer="No Answer", failed="Failed")
SENTIMENTS = ("positive", "positive", "neutral", "neutral", "neutral", "negative", "mixed")
# Relative call volume by local hour of day and by weekday (Monday first).
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 10, 35, 80, 100, 100, 75, 65, 90, 100, 90, 70, 35, 18, 10, 6, 4, 3)
WEEKDAY_WEIGHTS = (100, 100, 95, 95, 90, 35, 10)
US_AREA_CODES = ("415", "212", "646", "312")
CUSTOMER_POOL_SIZE = 4000
