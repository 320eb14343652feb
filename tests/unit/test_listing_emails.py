"""The sweep's listing by email answers as ChartMogul's search by email would, and the
figures of a customer as listed are those of the customer read."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from cmsync.chartmogul.records import Customer, CustomerSubscription, Invoice
from cmsync.pipeline.streams.customers import Listed, Listing
from cmsync.pipeline.streams.enrich_figures import person_figures

_EMAILS = st.sampled_from(
    ["a@x.example", "A@X.example", "b@x.example", "B@x.EXAMPLE", "", None, "c@y.example"]
)
_CUSTOMER = st.builds(
    lambda n, email, mrr, status, currency: Customer.model_validate(
        {"uuid": f"cus_{n}", "email": email, "mrr": mrr, "status": status, "currency": currency}
    ),
    st.integers(0, 10_000),
    _EMAILS,
    st.integers(0, 10**9),
    st.sampled_from([None, "Active", "Lead", "Cancelled", "Past Due"]),
    st.sampled_from([None, "USD", "EUR"]),
)


def _search(customers: list[Customer], email: str) -> list[str]:
    """Customers with exactly this email, case aside (what ``customers/search`` answers)."""
    return [c.uuid for c in customers if c.email and c.email.lower() == email.lower()]


@given(st.lists(st.lists(_CUSTOMER, max_size=6), max_size=4), _EMAILS.filter(bool))
def test_the_listing_by_email_answers_as_a_search(pages: list[list[Customer]], email: str) -> None:
    listing = Listing()
    for page in pages:
        listing.add(tuple(page), ())
    assert listing.emails is not None
    listed = [c.uuid for c in listing.emails.get_many([email.casefold()]).get(email.casefold(), [])]
    listing.drop_emails()
    assert listed == _search([c for page in pages for c in page], email)


@given(_CUSTOMER)
def test_a_listed_customer_gives_the_figures_of_the_customer_read(customer: Customer) -> None:
    subscription = CustomerSubscription.model_validate(
        {"uuid": "s", "plan": "Pro", "mrr": 100, "status": "active",
         "start-date": "2026-01-05T10:00:00+00:00"}
    )  # fmt: skip
    invoice = Invoice.model_validate(
        {"uuid": "inv", "date": "2026-01-05T00:00:00Z", "currency": "EUR",
         "line_items": [{"type": "subscription", "amount_in_cents": 900}],
         "transactions": [{"type": "payment", "result": "successful",
                           "date": "2026-01-05T00:00:00Z"}]}
    )  # fmt: skip
    read = person_figures(customer, [subscription], [invoice])
    assert person_figures(Listed.of(customer), [subscription], [invoice]) == read
    assert read.subscription_start == date(2026, 1, 5)
