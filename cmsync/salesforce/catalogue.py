"""The Salesforce objects and fields cmsync touches: one catalogue, as plain frozen data.

The sandbox's describe and validation read it now; the admin kit (metadata generation, the
``doctor`` check) reads it later. It imports nothing from the sandbox. Types are the real
describe type names (``string``, ``currency``, ``reference``...), so a field here reads like
``describe()`` output; the types themselves live in ``cmsync.salesforce.schema``.

Derive modified copies for tests with ``Catalogue.without_field`` / ``replace_sobject``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cmsync.salesforce.schema import (
    Catalogue,
    FieldSpec,
    FieldType,
    OpportunityStage,
    PicklistValue,
    SObjectSpec,
)

__all__ = [
    "CURRENCY_ISO_CODE",
    "DEFAULT_CATALOGUE",
    "OPPORTUNITY_STAGES",
    "Catalogue",
    "FieldSpec",
    "FieldType",
    "OpportunityStage",
    "PicklistValue",
    "SObjectSpec",
    "with_multi_currency",
]


# The standard stages of a new org (Setup > Opportunity Stages).
OPPORTUNITY_STAGES = (
    OpportunityStage("Prospecting", 10, closed=False, won=False),
    OpportunityStage("Qualification", 10, closed=False, won=False),
    OpportunityStage("Needs Analysis", 20, closed=False, won=False),
    OpportunityStage("Value Proposition", 50, closed=False, won=False),
    OpportunityStage("Id. Decision Makers", 60, closed=False, won=False),
    OpportunityStage("Perception Analysis", 70, closed=False, won=False),
    OpportunityStage("Proposal/Price Quote", 75, closed=False, won=False),
    OpportunityStage("Negotiation/Review", 90, closed=False, won=False),
    OpportunityStage("Closed Won", 100, closed=True, won=True),
    OpportunityStage("Closed Lost", 0, closed=True, won=False),
)


# --- builders: keep the object definitions below readable --------------------------------

T = FieldType


def _picks(*values: str, default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, default=v == default) for v in values)


def _text(name: str, label: str, length: int, **kw: Any) -> FieldSpec:
    return FieldSpec(name, T.STRING, label, length=length, **kw)


def _ref(name: str, label: str, to: tuple[str, ...], rel: str, **kw: Any) -> FieldSpec:
    return FieldSpec(
        name, T.REFERENCE, label, length=18, reference_to=to, relationship_name=rel, **kw
    )


def _owner() -> FieldSpec:
    return _ref("OwnerId", "Owner ID", ("User",), "Owner", nillable=False, defaulted_on_create=True)


def _picklist(name: str, label: str, values: tuple[PicklistValue, ...], **kw: Any) -> FieldSpec:
    return FieldSpec(name, T.PICKLIST, label, length=255, picklist_values=values, **kw)


def _money(name: str, label: str, precision: int = 18, **kw: Any) -> FieldSpec:
    return FieldSpec(name, T.CURRENCY, label, precision=precision, scale=2, **kw)


def _long_text(name: str, label: str) -> FieldSpec:
    # Long text areas cannot be filtered or sorted in SOQL.
    return FieldSpec(name, T.TEXTAREA, label, length=32000, filterable=False, sortable=False)


def _read_only(spec: FieldSpec) -> FieldSpec:
    return replace(spec, createable=False, updateable=False)


def _system_fields(label: str) -> tuple[FieldSpec, ...]:
    """The fields every object has, maintained by the platform."""
    return (
        FieldSpec("Id", T.ID, f"{label} ID", length=18, nillable=False, createable=False,
                  updateable=False, defaulted_on_create=True),
        FieldSpec("IsDeleted", T.BOOLEAN, "Deleted", nillable=False, createable=False,
                  updateable=False, defaulted_on_create=True),
        FieldSpec("CreatedDate", T.DATETIME, "Created Date", nillable=False, createable=False,
                  updateable=False, defaulted_on_create=True),
        _ref("CreatedById", "Created By ID", ("User",), "CreatedBy", nillable=False,
             createable=False, updateable=False, defaulted_on_create=True),
        FieldSpec("LastModifiedDate", T.DATETIME, "Last Modified Date", nillable=False,
                  createable=False, updateable=False, defaulted_on_create=True),
        _ref("LastModifiedById", "Last Modified By ID", ("User",), "LastModifiedBy",
             nillable=False, createable=False, updateable=False, defaulted_on_create=True),
        FieldSpec("SystemModstamp", T.DATETIME, "System Modstamp", nillable=False,
                  createable=False, updateable=False, defaulted_on_create=True),
    )  # fmt: skip


def _person_name() -> tuple[FieldSpec, ...]:
    """FirstName, LastName (required) and the derived full Name."""
    return (
        _text("FirstName", "First Name", 40),
        _text("LastName", "Last Name", 80, nillable=False),
        _read_only(_text("Name", "Full Name", 121, nillable=False, name_field=True)),
    )


def _cm_uuid(unique: bool) -> FieldSpec:
    return _text(
        "CM_Customer_UUID__c", "CM Customer UUID", 64, custom=True, external_id=True,
        unique=unique, help_text="ChartMogul customer UUID (cus_...) this record is linked to.",
    )  # fmt: skip


def _cm_sync_key() -> FieldSpec:
    return _text(
        "CM_Sync_Key__c", "CM Sync Key", 80, custom=True, external_id=True, unique=True,
        help_text="cmsync idempotency key: a retried write upserts instead of duplicating.",
    )  # fmt: skip


def _cm_person_fields() -> tuple[FieldSpec, ...]:
    return (
        _text("CM_Plan__c", "CM Plan", 255, custom=True),
        FieldSpec("CM_Subscription_Start__c", T.DATE, "CM Subscription Start", custom=True),
        _money("CM_LTV__c", "CM LTV", 16, custom=True),
        _money("CM_MRR__c", "CM MRR", 16, custom=True),
        _text("CM_Status__c", "CM Status", 40, custom=True),
        _cm_uuid(unique=False),
    )


_INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)  # fmt: skip

USER = SObjectSpec(
    "User", "User", "Users", "005",
    (
        *_system_fields("User"),
        *_person_name(),
        FieldSpec("Email", T.EMAIL, "Email", length=128, nillable=False),
        _text("Username", "Username", 80, nillable=False, unique=True),
        FieldSpec("IsActive", T.BOOLEAN, "Active", nillable=False, defaulted_on_create=True,
                  default_value=True),
    ),
    deletable=False,
)  # fmt: skip

# Object Reference, "Organization": read-only through the API (query and describe only);
# ``DefaultCurrencyIsoCode`` is the org's default (corporate) currency, the one its currency
# fields are in. A handful of the object's fields, those cmsync's doctor reads.
_CURRENCY_CODES = _picks(
    "USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK",
    "HUF", "INR", "BRL", "MXN", "SGD", "HKD", "ZAR", "ILS", "AED", "CNY", "KRW", "TRY",
)  # fmt: skip
ORGANIZATION = SObjectSpec(
    "Organization", "Organization", "Organizations", "00D",
    (
        *_system_fields("Organization"),
        _text("Name", "Name", 80, nillable=False, name_field=True, createable=False,
              updateable=False),
        _picklist("DefaultCurrencyIsoCode", "Currency", _CURRENCY_CODES, createable=False,
                  updateable=False, restricted_picklist=True),
    ),
    createable=False, updateable=False, deletable=False,
)  # fmt: skip

# In a multi-currency org every record with currency fields has ``CurrencyIsoCode`` (Object
# Reference, "CurrencyType": the currencies of an org "for which the multicurrency feature is
# enabled"; amounts on a record are in the record's currency, not the corporate one).
CURRENCY_ISO_CODE = _picklist(
    "CurrencyIsoCode", "Account Currency", _CURRENCY_CODES, restricted_picklist=True
)

ACCOUNT = SObjectSpec(
    "Account", "Account", "Accounts", "001",
    (
        *_system_fields("Account"),
        _text("Name", "Account Name", 255, nillable=False, name_field=True),
        FieldSpec("Website", T.URL, "Website", length=255),
        _owner(),
        _text("BillingCountry", "Billing Country", 80),
        _picklist("Type", "Account Type", _picks(
            "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
            "Installation Partner", "Technology Partner", "Other")),
        _picklist("Industry", "Industry", _picks(*_INDUSTRIES)),
        _long_text("Description", "Account Description"),
        _cm_uuid(unique=True),
        _money("CM_MRR__c", "CM MRR", 16, custom=True),
        _money("CM_ARR__c", "CM ARR", 16, custom=True),
        _text("CM_Plan__c", "CM Plan", 255, custom=True),
        _text("CM_Status__c", "CM Status", 40, custom=True),
        FieldSpec("CM_Customer_Since__c", T.DATE, "CM Customer Since", custom=True),
        _picklist("CM_Lifecycle_Stage__c", "CM Lifecycle Stage", _picks(
            "Lead", "Trial", "New", "Active", "At Risk", "Churned"), custom=True,
            restricted_picklist=True),
        _picklist("CM_Churn_Risk__c", "CM Churn Risk", _picks("None", "Low", "Medium", "High"),
                  custom=True, restricted_picklist=True),
        FieldSpec("CM_Last_Activity__c", T.DATETIME, "CM Last Activity", custom=True),
        FieldSpec("CM_URL__c", T.URL, "CM URL", length=255, custom=True),
        _ref("CM_Success_Manager__c", "CM Success Manager", ("User",), "CM_Success_Manager__r",
             custom=True),
        # Set by a merge on each deleted loser, naming the winner (SOAP API Developer Guide,
        # "merge()"; Object Reference, Account: "MasterRecordId").
        _read_only(_ref("MasterRecordId", "Master Record ID", ("Account",), "MasterRecord")),
    ),
)  # fmt: skip

CONTACT = SObjectSpec(
    "Contact", "Contact", "Contacts", "003",
    (
        *_system_fields("Contact"),
        *_person_name(),
        FieldSpec("Email", T.EMAIL, "Email", length=80),
        _ref("AccountId", "Account ID", ("Account",), "Account"),
        _owner(),
        _text("Title", "Title", 128),
        FieldSpec("Phone", T.PHONE, "Business Phone", length=40),
        *_cm_person_fields(),
    ),
)  # fmt: skip

LEAD = SObjectSpec(
    "Lead", "Lead", "Leads", "00Q",
    (
        *_system_fields("Lead"),
        *_person_name(),
        _text("Company", "Company", 255, nillable=False),
        FieldSpec("Email", T.EMAIL, "Email", length=80),
        _picklist("Status", "Status", _picks(
            "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
            "Closed - Not Converted", default="Open - Not Contacted"), nillable=False,
            defaulted_on_create=True),
        # Conversion fields are set by convertLead, never by a create or update.
        _read_only(FieldSpec("IsConverted", T.BOOLEAN, "Converted", nillable=False,
                             defaulted_on_create=True)),
        _read_only(FieldSpec("ConvertedDate", T.DATE, "Converted Date")),
        _read_only(_ref("ConvertedAccountId", "Converted Account ID", ("Account",),
                        "ConvertedAccount")),
        _read_only(_ref("ConvertedContactId", "Converted Contact ID", ("Contact",),
                        "ConvertedContact")),
        _read_only(_ref("ConvertedOpportunityId", "Converted Opportunity ID", ("Opportunity",),
                        "ConvertedOpportunity")),
        _owner(),
        *_cm_person_fields(),
    ),
)  # fmt: skip

OPPORTUNITY = SObjectSpec(
    "Opportunity", "Opportunity", "Opportunities", "006",
    (
        *_system_fields("Opportunity"),
        _text("Name", "Name", 120, nillable=False, name_field=True),
        _picklist("StageName", "Stage", tuple(PicklistValue(s.name, s.name)
                                              for s in OPPORTUNITY_STAGES), nillable=False),
        FieldSpec("CloseDate", T.DATE, "Close Date", nillable=False),
        _money("Amount", "Amount"),
        _picklist("Type", "Opportunity Type", _picks(
            "Existing Customer - Upgrade", "Existing Customer - Replacement",
            "Existing Customer - Downgrade", "New Customer")),
        _ref("AccountId", "Account ID", ("Account",), "Account"),
        _owner(),
        # IsWon and IsClosed follow StageName; Probability defaults from it.
        _read_only(FieldSpec("IsWon", T.BOOLEAN, "Won", nillable=False, defaulted_on_create=True)),
        _read_only(FieldSpec("IsClosed", T.BOOLEAN, "Closed", nillable=False,
                             defaulted_on_create=True)),
        FieldSpec("Probability", T.PERCENT, "Probability (%)", precision=3, scale=0,
                  defaulted_on_create=True),
        _long_text("Description", "Description"),
        _cm_sync_key(),
    ),
)  # fmt: skip

TASK = SObjectSpec(
    "Task", "Task", "Tasks", "00T",
    (
        *_system_fields("Activity"),
        FieldSpec("Subject", T.COMBOBOX, "Subject", length=255, name_field=True,
                  picklist_values=_picks("Call", "Send Letter", "Send Quote", "Other")),
        _ref("WhatId", "Related To ID", ("Account", "Opportunity", "Case"), "What"),
        _ref("WhoId", "Name ID", ("Contact", "Lead"), "Who"),
        _owner(),
        _picklist("Status", "Status", _picks(
            "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred",
            default="Not Started"), nillable=False, defaulted_on_create=True),
        _picklist("Priority", "Priority", _picks("High", "Normal", "Low", default="Normal"),
                  nillable=False, defaulted_on_create=True),
        FieldSpec("ActivityDate", T.DATE, "Due Date Only"),
        _long_text("Description", "Comments"),
        _cm_sync_key(),
    ),
)  # fmt: skip

CASE = SObjectSpec(
    "Case", "Case", "Cases", "500",
    (
        *_system_fields("Case"),
        _read_only(_text("CaseNumber", "Case Number", 30, nillable=False, name_field=True,
                         auto_number=True, defaulted_on_create=True)),
        _text("Subject", "Subject", 255),
        _ref("AccountId", "Account ID", ("Account",), "Account"),
        _ref("ContactId", "Contact ID", ("Contact",), "Contact"),
        _owner(),
        _picklist("Priority", "Priority", _picks("High", "Medium", "Low", default="Medium"),
                  defaulted_on_create=True),
        _picklist("Origin", "Case Origin", _picks("Phone", "Email", "Web")),
        _picklist("Status", "Status", _picks("New", "Working", "Escalated", "Closed",
                                             default="New"), defaulted_on_create=True),
        _long_text("Description", "Description"),
        _cm_sync_key(),
    ),
)  # fmt: skip


def _snapshot_money(name: str, label: str) -> FieldSpec:
    return _money(name, label, 16, custom=True)


def _snapshot_percent(name: str, label: str) -> FieldSpec:
    return FieldSpec(name, T.PERCENT, label, precision=8, scale=2, custom=True)


METRIC_SNAPSHOT = SObjectSpec(
    "CM_Metric_Snapshot__c", "CM Metric Snapshot", "CM Metric Snapshots", "a00",
    (
        *_system_fields("Record"),
        # A custom object's Name defaults to the record Id when a create leaves it out.
        _text("Name", "CM Metric Snapshot Name", 80, nillable=False, name_field=True,
              defaulted_on_create=True),
        _owner(),
        _text("CM_Period_Key__c", "CM Period Key", 64, custom=True, external_id=True,
              unique=True, help_text="One row per period: <period>:<start date>."),
        _picklist("CM_Period__c", "CM Period", _picks("day", "week", "month"), custom=True,
                  restricted_picklist=True),
        FieldSpec("CM_Period_Start__c", T.DATE, "CM Period Start", custom=True),
        FieldSpec("CM_Period_End__c", T.DATE, "CM Period End", custom=True),
        _snapshot_money("CM_MRR__c", "CM MRR"),
        _snapshot_money("CM_ARR__c", "CM ARR"),
        _snapshot_money("CM_ARPA__c", "CM ARPA"),
        _snapshot_money("CM_ASP__c", "CM ASP"),
        _snapshot_money("CM_LTV__c", "CM LTV"),
        FieldSpec("CM_Customers__c", T.DOUBLE, "CM Customers", precision=18, scale=0,
                  custom=True),
        _snapshot_percent("CM_Customer_Churn_Rate__c", "CM Customer Churn Rate"),
        _snapshot_percent("CM_MRR_Churn_Rate__c", "CM MRR Churn Rate"),
        _snapshot_money("CM_MRR_New_Business__c", "CM MRR New Business"),
        _snapshot_money("CM_MRR_Expansion__c", "CM MRR Expansion"),
        _snapshot_money("CM_MRR_Contraction__c", "CM MRR Contraction"),
        _snapshot_money("CM_MRR_Churn__c", "CM MRR Churn"),
        _snapshot_money("CM_MRR_Reactivation__c", "CM MRR Reactivation"),
    ),
    custom=True,
)  # fmt: skip

# --- documentation for admins: help text (users see it) and description (admins see it) ----

_WRITTEN = "Written by cmsync from ChartMogul; manual edits are overwritten."
_PERSON = "of the ChartMogul customer this person's Account is linked to"

# Per field name; a (object, field) key overrides it for one object.
_HELP: dict[str | tuple[str, str], tuple[str, str | None]] = {
    "CM_Customer_UUID__c": (
        "ChartMogul customer UUID (cus_...) this record is linked to.",
        "Set by cmsync when it links the record to a ChartMogul customer; set it by hand to "
        "force a link. Matching reads it before any other rule.",
    ),
    "CM_Sync_Key__c": (
        "cmsync idempotency key: a retried write upserts instead of duplicating.",
        "External ID that cmsync upserts on, so a retried write never creates a duplicate.",
    ),
    "CM_MRR__c": ("Monthly recurring revenue from ChartMogul.", _WRITTEN),
    "CM_ARR__c": ("Annual run rate (12 x MRR) from ChartMogul.", _WRITTEN),
    "CM_Plan__c": ("Current plan in ChartMogul.", _WRITTEN),
    "CM_Status__c": ("Customer status in ChartMogul (e.g. Active, Past Due, Cancelled).", _WRITTEN),
    "CM_Customer_Since__c": ("Date of the customer's first payment in ChartMogul.", _WRITTEN),
    "CM_Lifecycle_Stage__c": (
        "Lifecycle stage cmsync derives from ChartMogul: Lead, Trial, New, Active, At Risk, "
        "Churned.",
        _WRITTEN,
    ),
    "CM_Churn_Risk__c": (
        "Churn risk cmsync derives from contractions, downgrades and failed payments.",
        _WRITTEN,
    ),
    "CM_Last_Activity__c": ("When ChartMogul last recorded an MRR movement.", _WRITTEN),
    "CM_URL__c": ("The customer in ChartMogul.", _WRITTEN),
    "CM_Success_Manager__c": (
        "Who gets cmsync's churn-risk Tasks and Cases for this Account.",
        "Read by cmsync when the setting fields.owner names this field; empty means the "
        "Account owner.",
    ),
    "CM_Subscription_Start__c": (f"Subscription start {_PERSON}.", _WRITTEN),
    "CM_LTV__c": (f"Lifetime value {_PERSON}.", _WRITTEN),
    ("Contact", "CM_Plan__c"): (f"Plan {_PERSON}.", _WRITTEN),
    ("Contact", "CM_MRR__c"): (f"MRR {_PERSON}.", _WRITTEN),
    ("Contact", "CM_Status__c"): (f"ChartMogul status {_PERSON}.", _WRITTEN),
    ("Lead", "CM_Plan__c"): (f"Plan {_PERSON}.", _WRITTEN),
    ("Lead", "CM_MRR__c"): (f"MRR {_PERSON}.", _WRITTEN),
    ("Lead", "CM_Status__c"): (f"ChartMogul status {_PERSON}.", _WRITTEN),
}
_SNAPSHOT = "CM_Metric_Snapshot__c"
_SNAPSHOT_HELP = {
    "CM_Period_Key__c": "One row per period: <period>:<start date>.",
    "CM_Period__c": "Length of the period: day, week or month.",
    "CM_Period_Start__c": "First day of the period.",
    "CM_Period_End__c": "Last day of the period.",
    "CM_MRR__c": "MRR at the end of the period.",
    "CM_ARR__c": "ARR at the end of the period.",
    "CM_ARPA__c": "Average revenue per account at the end of the period.",
    "CM_ASP__c": "Average sale price over the period.",
    "CM_LTV__c": "Customer lifetime value at the end of the period.",
    "CM_Customers__c": "Paying customers at the end of the period.",
    "CM_Customer_Churn_Rate__c": "Customer churn rate over the period, in percent.",
    "CM_MRR_Churn_Rate__c": "Net MRR churn rate over the period, in percent.",
    "CM_MRR_New_Business__c": "MRR gained from new customers in the period.",
    "CM_MRR_Expansion__c": "MRR gained from expansions in the period.",
    "CM_MRR_Contraction__c": "MRR lost to contractions in the period.",
    "CM_MRR_Churn__c": "MRR lost to churned customers in the period.",
    "CM_MRR_Reactivation__c": "MRR regained from reactivated customers in the period.",
}
_HELP.update(
    {(_SNAPSHOT, name): (text, "ChartMogul metrics, upserted by cmsync's KPI report.")
     for name, text in _SNAPSHOT_HELP.items()}
)  # fmt: skip


def _documented(sobject: SObjectSpec, description: str | None = None) -> SObjectSpec:
    """``sobject`` with help text and a description on each of its custom fields."""
    fields = []
    for spec in sobject.fields:
        doc = _HELP.get((sobject.name, spec.name)) or _HELP.get(spec.name)
        if spec.custom and doc is not None:
            spec = replace(spec, help_text=doc[0], description=doc[1])
        fields.append(spec)
    return replace(sobject, fields=tuple(fields), description=description)


DEFAULT_CATALOGUE = Catalogue(
    (
        USER,
        ORGANIZATION,
        *(_documented(s) for s in (ACCOUNT, CONTACT, LEAD, OPPORTUNITY, TASK, CASE)),
        _documented(
            METRIC_SNAPSHOT,
            "ChartMogul metrics, one row per period (day, week or month), upserted by cmsync "
            "on CM_Period_Key__c.",
        ),
    )
)


def with_multi_currency(catalogue: Catalogue) -> Catalogue:
    """``catalogue`` as a multi-currency org has it: Accounts carry ``CurrencyIsoCode``."""
    return catalogue.replace_sobject(catalogue["Account"].with_field(CURRENCY_ISO_CODE))
