"""SOQL for the sandbox: lexer and parser (syntax), binder (names and types), evaluator."""

from __future__ import annotations

from cmsync.sandbox.salesforce.soql.errors import SoqlError
from cmsync.sandbox.salesforce.soql.parser import parse

__all__ = ["SoqlError", "parse"]
