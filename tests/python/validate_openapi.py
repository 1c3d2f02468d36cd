"""Validates an OpenAPI document against the official OpenAPI 3.1 JSON Schema, which
openapi-spec-validator ships with itself (no network), and its semantic checks (unique
operation ids, declared path parameters, resolvable references). Run by tests/e2e/openapi.rs
with the document's file as the argument; prints every error and exits 1 when it is invalid."""

import json
import sys

from openapi_spec_validator import OpenAPIV31SpecValidator

with open(sys.argv[1], encoding="utf-8") as f:
    document = json.load(f)

errors = list(OpenAPIV31SpecValidator(document).iter_errors())
for error in errors:
    print(f"{'/'.join(str(p) for p in error.path)}: {error.message}")
if errors:
    sys.exit(1)
print("valid OpenAPI", document["openapi"])
