"""Validate normalised contacts with a Great Expectations (GX Core 1.x) suite built in code.

The suite is a second, independent look at what ``etl.imports.normalise`` produced: identifier present
and unique, email and E.164 shapes, ``YYYY-MM-DD`` dates, plain decimals, ``true``/``false``,
category values within the account's enumeration. Row-level rejects come from normalise's
vectorised masks; GX reports counts and a sample of failing values, for the run report.

One ephemeral GX context serves the whole process; the data source, batch definition and suite
are built once per ``ContactValidator`` and reused for every batch (building them is the slow
part of GX), and :func:`validator_for` keeps one validator per column set and suite. Blank
values stay ``""`` and every expectation accepts ``""``, so that an empty optional value is not
a failure. GX's cost is a fixed ~40 ms per ``validate`` call plus a little per row and
expectation, so large frames (see ``validate_frames``) are cheaper than many small ones: the
import validates the rows it sends, batches of every file with the same columns together.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from etl.imports.mapping import EMAIL, PHONE_ATTRIBUTES
from etl.imports.normalise import IDENTIFIER, AttributeSpec, spec_for

if TYPE_CHECKING:
    from great_expectations.expectations.expectation import Expectation

# Written with [0-9] and explicit blanks rather than \d and \s: pandas runs those through
# Python's re row by row (their Unicode meaning differs from pyarrow's), which is 10x slower.
EMAIL_PATTERN = r"^[^@ \t\r\n]+@[^@ \t\r\n]+\.[^@ \t\r\n]+$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
FLOAT_PATTERN = r"^-?[0-9]+(?:\.[0-9]+)?$"
BOOLEAN_VALUES = ("true", "false")
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ValidationReport:
    """What the suite found in one or more batches."""

    passed: bool
    evaluated: int
    """Expectations evaluated (summed over batches)."""
    successful: int
    failures: tuple[str, ...]
    """One line per failing expectation: its unexpected count and a few sample values."""
    rows: int
    unexpected: tuple[tuple[str, int, tuple[str, ...]], ...] = ()
    """(expectation, unexpected count, samples) behind ``failures``, for merging."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the run report."""
        return {
            "passed": self.passed,
            "evaluated": self.evaluated,
            "successful": self.successful,
            "rows": self.rows,
            "failures": list(self.failures),
        }


def _render(unexpected: Iterable[tuple[str, int, tuple[str, ...]]]) -> tuple[str, ...]:
    lines = []
    for name, count, samples in unexpected:
        shown = ", ".join(repr(s) for s in samples)
        lines.append(f"{name}: {count} unexpected" + (f" (e.g. {shown})" if shown else ""))
    return tuple(lines)


def merge_reports(reports: Iterable[ValidationReport]) -> ValidationReport:
    """Combine the reports of several batches (counts add up, samples are kept short)."""
    passed, evaluated, successful, rows = True, 0, 0, 0
    merged: dict[str, tuple[int, list[str]]] = {}
    for report in reports:
        passed &= report.passed
        evaluated += report.evaluated
        successful += report.successful
        rows += report.rows
        for name, count, samples in report.unexpected:
            total, kept = merged.get(name, (0, []))
            kept = kept + [s for s in samples if s not in kept]
            merged[name] = (total + count, kept[:SAMPLE_SIZE])
    unexpected = tuple((name, count, tuple(samples)) for name, (count, samples) in merged.items())
    return ValidationReport(
        passed=passed,
        evaluated=evaluated,
        successful=successful,
        failures=_render(unexpected),
        rows=rows,
        unexpected=unexpected,
    )


_LOCK = threading.Lock()
_CONTEXT: list[Any] = []  # the process's one ephemeral GX context, once built
_VALIDATORS: dict[tuple[object, ...], ContactValidator] = {}
_MAX_VALIDATORS = 32


def _gx_context() -> Any:
    """The process's ephemeral GX context (building one per file cost ~15 ms each time)."""
    with _LOCK:
        if not _CONTEXT:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(
                globally=False, metric_calculations=False
            )
            _CONTEXT.append(context)
        return _CONTEXT[0]


def _suite_key(specs: Mapping[str, AttributeSpec], columns: Sequence[str]) -> tuple[object, ...]:
    """What a suite depends on: the columns and their specs."""
    parts: list[object] = []
    for column in columns:
        spec = spec_for(column, specs)
        parts.append((column, spec.kind, tuple(sorted(spec.enumeration.items())), spec.options))
    return tuple(parts)


def validator_for(specs: Mapping[str, AttributeSpec], columns: Sequence[str]) -> ContactValidator:
    """A validator for these columns, built once per process and suite, then reused."""
    key = _suite_key(specs, columns)
    with _LOCK:
        found = _VALIDATORS.get(key)
    if found is not None:
        return found
    validator = ContactValidator(specs, columns)
    with _LOCK:
        if len(_VALIDATORS) >= _MAX_VALIDATORS:
            _VALIDATORS.pop(next(iter(_VALIDATORS)))
        return _VALIDATORS.setdefault(key, validator)


class ContactValidator:
    """A GX suite for contacts with the given columns, built once and reused per batch."""

    def __init__(self, specs: Mapping[str, AttributeSpec], columns: Sequence[str]) -> None:
        import great_expectations as gx
        from great_expectations.execution_engine import pandas_execution_engine
        from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
            ExpectColumnValuesToBeInSet,
        )
        from great_expectations.expectations.core.expect_column_values_to_be_unique import (
            ExpectColumnValuesToBeUnique,
        )
        from great_expectations.expectations.core.expect_column_values_to_match_regex import (
            ExpectColumnValuesToMatchRegex,
        )
        from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
            ExpectColumnValuesToNotBeNull,
        )

        # GX fingerprints every pandas batch by hashing the whole frame unless it holds more than
        # HASH_THRESHOLD bytes: over half the cost of validating contacts, for a marker nothing
        # here ever reads (each batch is validated once and dropped).
        if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
            pandas_execution_engine.HASH_THRESHOLD = 0

        self.columns = tuple(columns)
        self._context = _gx_context()
        name = f"contacts-{uuid.uuid4().hex}"
        source = self._context.data_sources.add_pandas(name)
        asset = source.add_dataframe_asset("contacts")
        self._batch_definition = asset.add_batch_definition_whole_dataframe("batch")
        suite = gx.ExpectationSuite(name=name)
        self.validated_columns: list[str] = []

        def expect(expectation: Expectation, column: str) -> None:
            suite.add_expectation(expectation)
            if column not in self.validated_columns:
                self.validated_columns.append(column)

        def blank_or(regex: str) -> str:
            # A blank value is "not set" (Brevo leaves the attribute alone), never unexpected.
            return f"^$|{regex}"

        if IDENTIFIER in self.columns:
            expect(ExpectColumnValuesToNotBeNull(column=IDENTIFIER), IDENTIFIER)
            expect(ExpectColumnValuesToBeUnique(column=IDENTIFIER), IDENTIFIER)
        for column in self.columns:
            if column.startswith("_"):
                continue
            spec = spec_for(column, specs)
            if column == EMAIL:
                expect(
                    ExpectColumnValuesToMatchRegex(column=column, regex=blank_or(EMAIL_PATTERN)),
                    column,
                )
            elif column in PHONE_ATTRIBUTES:
                expect(
                    ExpectColumnValuesToMatchRegex(column=column, regex=blank_or(E164_PATTERN)),
                    column,
                )
            elif spec.kind == "date":
                expect(
                    ExpectColumnValuesToMatchRegex(column=column, regex=blank_or(DATE_PATTERN)),
                    column,
                )
            elif spec.kind == "float":
                expect(
                    ExpectColumnValuesToMatchRegex(column=column, regex=blank_or(FLOAT_PATTERN)),
                    column,
                )
            elif spec.kind == "boolean":
                expect(
                    ExpectColumnValuesToBeInSet(column=column, value_set=["", *BOOLEAN_VALUES]),
                    column,
                )
            elif spec.kind == "category" and spec.enumeration:
                values = sorted({"", *(str(v) for v in spec.enumeration.values())})
                expect(ExpectColumnValuesToBeInSet(column=column, value_set=values), column)
            elif spec.kind == "multiple-choice" and spec.options:
                option = "|".join(re.escape(o) for o in spec.options)
                expect(
                    ExpectColumnValuesToMatchRegex(
                        column=column, regex=blank_or(f"^(?:{option})(?:,(?:{option}))*$")
                    ),
                    column,
                )
        self._suite = self._context.suites.add(suite)
        self.expectations = len(self._suite.expectations)

    def validate_frames(self, frames: Sequence[pd.DataFrame]) -> ValidationReport:
        """Validate several batches in one GX run (cheaper than one run per small batch)."""
        frames = [f for f in frames if len(f)]
        if not frames:
            return ValidationReport(True, 0, 0, (), 0)
        columns = [c for c in self.validated_columns if all(c in f.columns for f in frames)]
        return self.validate(pd.concat([f[columns] for f in frames], ignore_index=True))

    def validate(self, contacts: pd.DataFrame) -> ValidationReport:
        """Run the suite on one frame; never raises on bad data."""
        rows = len(contacts)
        if not self.expectations:
            return ValidationReport(True, 0, 0, (), rows)
        # Blank values stay "" and every expectation accepts "", rather than turning them into
        # nulls that GX counts as missing: GX drops the null rows of the *whole frame* before
        # each expectation, which copied every column ~30 times a batch (a third of the time
        # GX took). Only a blank identifier becomes null, for its not-null expectation.
        frame = pd.DataFrame(
            {
                column: (
                    contacts[column].mask(contacts[column] == "")
                    if column == IDENTIFIER
                    else contacts[column]
                )
                for column in self.validated_columns
                if column in contacts.columns
            },
            index=pd.RangeIndex(rows),
        )
        missing = [c for c in self.validated_columns if c not in contacts.columns]
        for column in missing:
            frame[column] = pd.Series([None if column == IDENTIFIER else ""] * rows, dtype=object)
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            self._suite,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
        )
        evaluated = successful = 0
        unexpected: list[tuple[str, int, tuple[str, ...]]] = []
        for item in result.results:
            evaluated += 1
            config = item.expectation_config
            column = config.kwargs.get("column", "") if config else ""
            name = f"{config.type if config else 'expectation'}({column})"
            if item.success:
                successful += 1
                continue
            info = item.result or {}
            count = int(info.get("unexpected_count") or 0)
            samples = tuple(str(v) for v in (info.get("partial_unexpected_list") or ()))
            if not count and item.exception_info:
                raised = item.exception_info.get("exception_message") or "raised an exception"
                samples = (str(raised).splitlines()[0],)
            unexpected.append((name, count, samples[:SAMPLE_SIZE]))
        return ValidationReport(
            passed=bool(result.success),
            evaluated=evaluated,
            successful=successful,
            failures=_render(unexpected),
            rows=rows,
            unexpected=tuple(unexpected),
        )
