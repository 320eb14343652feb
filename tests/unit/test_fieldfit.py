"""Fitting values to Salesforce fields (``state.fieldfit``): cut, kept, or left out.

The property tests hold the rule against the Salesforce emulator's own field checks
(``cmsync.sandbox.salesforce.values.from_json``, which answers STRING_TOO_LONG,
NUMBER_OUTSIDE_VALID_RANGE and INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST as Salesforce does):
whatever fitting lets through, the field accepts; what it leaves out, the field would refuse.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmsync.salesforce.catalogue import DEFAULT_CATALOGUE, FieldSpec, FieldType, PicklistValue
from cmsync.salesforce.field_limits import catalogue_limits, describe_limits, limits_of
from cmsync.sandbox.salesforce.errors import RecordError
from cmsync.sandbox.salesforce.values import from_json
from state.fieldfit import ELLIPSIS, Cause, FieldLimits, LimitsBook, Unfit, fit_fields, fit_value
from state.writeplan import Operation, PendingWrite, plan_writes

CUT_TYPES = (FieldType.STRING, FieldType.URL, FieldType.TEXTAREA, FieldType.PHONE)
NUMBER_TYPES = (FieldType.CURRENCY, FieldType.DOUBLE, FieldType.PERCENT)


def _accepted(spec: FieldSpec, value: object) -> bool:
    try:
        from_json(spec, value)
    except RecordError:
        return False
    return True


@given(
    kind=st.sampled_from(CUT_TYPES),
    length=st.integers(min_value=1, max_value=400),
    text=st.text(max_size=600),
)
def test_text_is_cut_to_the_field_with_an_ellipsis(kind: FieldType, length: int, text: str) -> None:
    spec = FieldSpec("F__c", kind, "F", length=length)
    fitted = fit_value("Account", "F__c", limits_of(spec), text)
    assert not isinstance(fitted, Unfit)
    value, note = fitted
    assert _accepted(spec, value)
    if len(text) <= length:
        assert (value, note) == (text, None)
    else:
        assert len(value) == length and value.endswith(ELLIPSIS)
        assert value[:-1] == text[: length - 1]
        assert note == f"F__c cut from {len(text)} to {length} characters"


@given(
    kind=st.sampled_from(NUMBER_TYPES),
    precision=st.integers(min_value=1, max_value=18),
    data=st.data(),
    value=st.one_of(
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e20, max_value=1e20),
    ),
)
def test_a_number_is_sent_only_when_the_field_holds_it(
    kind: FieldType, precision: int, data: st.DataObject, value: float
) -> None:
    scale = data.draw(st.integers(min_value=0, max_value=min(precision, 6)))
    spec = FieldSpec("F__c", kind, "F", precision=precision, scale=scale)
    fitted = fit_value("Account", "F__c", limits_of(spec), value)
    if isinstance(fitted, Unfit):
        assert fitted.cause is Cause.OUT_OF_RANGE and not _accepted(spec, value)
        assert "NUMBER_OUTSIDE_VALID_RANGE" in fitted.reason and fitted.fix
    else:
        assert fitted == (value, None) and _accepted(spec, value)


@given(
    values=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8, unique=True),
    restricted=st.booleans(),
    data=st.data(),
)
def test_a_restricted_picklist_gets_only_its_values(
    values: list[str], restricted: bool, data: st.DataObject
) -> None:
    spec = FieldSpec(
        "Stage__c", FieldType.PICKLIST, "Stage", length=255,
        picklist_values=tuple(PicklistValue(v, v) for v in values), restricted_picklist=restricted,
    )  # fmt: skip
    value = data.draw(st.one_of(st.sampled_from(values), st.text(min_size=1, max_size=20)))
    fitted = fit_value("Account", "Stage__c", limits_of(spec), value)
    if isinstance(fitted, Unfit):
        assert restricted and value not in values and not _accepted(spec, value)
        assert fitted.problem_key == "Account.Stage__c:not_in_picklist"
        assert fitted.fix.startswith("add ") and "picklist" in fitted.fix
    else:
        assert fitted == (value, None) and _accepted(spec, value)


def test_an_email_too_long_is_left_out_not_cut() -> None:
    limits = FieldLimits("email", length=80)
    address = "x" * 80 + "@example.com"
    fitted = fit_value("Contact", "Email", limits, address)
    assert isinstance(fitted, Unfit) and fitted.cause is Cause.TOO_LONG
    assert fit_value("Contact", "Email", limits, "a@example.com") == ("a@example.com", None)


@pytest.mark.parametrize(
    "value", [None, True, "2026-01-01", "001000000000001AAA" * 3, {"nested": 1}]
)
def test_what_fitting_does_not_judge_passes_as_it_is(value: object) -> None:
    for kind in ("reference", "id", "date", "boolean"):
        assert fit_value("Account", "X", FieldLimits(kind, length=18), value) == (value, None)


def test_a_record_keeps_its_other_fields() -> None:
    book = catalogue_limits()
    fitted = fit_fields(
        "Account",
        {
            "CM_MRR__c": 1e15,  # Currency(16, 2): 14 digits before the point
            "CM_ARR__c": 1200.5,
            "CM_Customer_UUID__c": "cus_1",
            "CM_Plan__c": "P" * 10_000,
            "CM_Lifecycle_Stage__c": "Dormant",
            "Unknown__c": "x" * 10_000,
        },
        book,
    )
    assert fitted.fields == {
        "CM_ARR__c": 1200.5,
        "CM_Customer_UUID__c": "cus_1",
        "CM_Plan__c": "P" * 254 + ELLIPSIS,
        "Unknown__c": "x" * 10_000,  # not a field cmsync knows: Salesforce judges it
    }
    assert fitted.notes == {"CM_Plan__c": "CM_Plan__c cut from 10000 to 255 characters"}
    assert {u.problem_key for u in fitted.unfit} == {
        "Account.CM_MRR__c:out_of_range",
        "Account.CM_Lifecycle_Stage__c:not_in_picklist",
    }


def test_describe_overrides_the_catalogue() -> None:
    describe = {
        "fields": [
            {"name": "CM_Plan__c", "type": "string", "length": 40},
            {
                "name": "CM_Lifecycle_Stage__c", "type": "picklist", "length": 255,
                "restrictedPicklist": True,
                "picklistValues": [{"value": "Active", "active": True},
                                   {"value": "Churned", "active": False}],
            },
        ]
    }  # fmt: skip
    book = catalogue_limits().merged(describe_limits("Account", describe))
    assert book.get("account", "cm_plan__c") == FieldLimits("string", length=40)
    stage = book.get("Account", "CM_Lifecycle_Stage__c")
    assert stage is not None and stage.picklist == {"Active"} and stage.restricted
    # The catalogue's limits stay for the fields describe did not list.
    assert book.get("Account", "CM_MRR__c") == limits_of(
        DEFAULT_CATALOGUE["Account"].field("CM_MRR__c")  # type: ignore[arg-type]
    )


def test_the_plan_sends_a_cut_value_once() -> None:
    """Fitted before the diff: the cut value, once written, is unchanged on the next plan."""
    book = catalogue_limits()
    row = PendingWrite(1, "Account", Operation.UPDATE, "001A", {"CM_Plan__c": "P" * 300})
    first = plan_writes([row], {}, limits=book)
    (record,) = first.batches[0].records
    assert record.fields == {"CM_Plan__c": "P" * 254 + ELLIPSIS}
    assert record.notes == ("CM_Plan__c cut from 300 to 255 characters",)
    written = {("Account", "001A", "CM_Plan__c"): "P" * 254 + ELLIPSIS}
    again = PendingWrite(2, "Account", Operation.UPDATE, "001A", {"CM_Plan__c": "P" * 300})
    assert plan_writes([again], written, limits=book).unchanged == (2,)


def test_the_plan_leaves_out_what_no_field_holds_and_says_for_which_record() -> None:
    book = LimitsBook({("account", "cm_mrr__c"): FieldLimits("currency", precision=4, scale=2)})
    rows = [
        PendingWrite(1, "Account", Operation.UPDATE, "001A", {"CM_MRR__c": 100.0, "X": 1}),
        PendingWrite(2, "Account", Operation.UPDATE, "001B", {"CM_MRR__c": 99.99}),
    ]
    plan = plan_writes(rows, {}, limits=book)
    assert [r.fields for b in plan.batches for r in b.records] == [{"X": 1}, {"CM_MRR__c": 99.99}]
    assert [(left.key, left.unfit.cause) for left in plan.unfit] == [("001A", Cause.OUT_OF_RANGE)]
    alone = PendingWrite(3, "Account", Operation.UPDATE, "001C", {"CM_MRR__c": Decimal(1000)})
    # A value of a type the rule does not read (not int or float) is Salesforce's to judge.
    assert plan_writes([alone], {}, limits=book).unfit == ()
