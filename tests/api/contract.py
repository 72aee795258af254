"""Check real answers against the OpenAPI document: status documented, body valid."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs

from bot.api.openapi import document

DOC = document()


_VALIDATORS: dict[int, jsonschema_rs.Validator] = {}


def validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """Return a validator for a schema that may $ref the document's components."""
    key = id(schema)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema_rs.Draft202012Validator(
            {**schema, "components": DOC["components"]}, validate_formats=True
        )
    return _VALIDATORS[key]


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", path) + "$")


PATHS = [(_pattern(p), p) for p in DOC["paths"]]
ERROR = validator({"$ref": "#/components/schemas/Error"})


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """Return (template, operation) documented for a request, or None."""
    for pattern, template in PATHS:
        if pattern.match(path):
            operation = DOC["paths"][template].get(method.lower())
            return (template, operation) if operation else None
    return None


class Contract:
    """The document, as a judge of answers."""

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        """Assert one answer matches the document (undocumented requests: the error shape)."""
        found = operation_for(method, path)
        if found is None:
            assert status >= 400, (method, path, status)
            ERROR.validate(json.loads(body))
            return
        template, operation = found
        responses = operation["responses"]
        assert str(status) in responses, f"{method} {template}: {status} is not documented"
        content = responses[str(status)].get("content")
        if not content:
            assert not body, f"{method} {template} {status}: undocumented body"
            return
        media = content_type.split(";")[0].strip()
        assert media in content, f"{method} {template} {status}: {media} not documented"
        schema = content[media]["schema"]
        if media == "application/json":
            instance = json.loads(body)
            errors = [str(e) for e in validator(schema).iter_errors(instance)]
            assert not errors, f"{method} {template} {status}: {errors}\n{instance}"


CONTRACT = Contract()
