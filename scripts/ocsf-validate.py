#!/usr/bin/env python3
"""Validate OCSF records against the OCSF JSON Schema of their class.

Usage: ocsf-validate.py DIR_OR_FILE...

Every *.json file holds one record, every *.jsonl file one record per line (what
`streak-connector tail --format ocsf` prints). Each record is checked against the
JSON Schema that the `ocsf-json-schema` package builds for its class
(`OcsfJsonSchemaEmbedded(get_ocsf_schema(version)).get_class_schema(name, profiles)`,
with `metadata.version` and `metadata.profiles` from the record), with `jsonschema`,
and against the rules a JSON Schema cannot state: `type_uid` is class_uid * 100 +
activity_id, and `category_uid` is the class's category.

Exit codes: 0 every record valid, 1 some record invalid, 2 usage error or no
record found, 3 the Python packages are missing (`scripts/ci-setup.sh` installs them
into a venv under ~/.cache/streak-connector/ocsf-venv).
"""

import json
import pathlib
import sys

try:
    import jsonschema
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
except ImportError as e:  # the caller decides whether that is a skip or a failure
    print(f"ocsf-validate: missing Python package: {e.name} (run scripts/ci-setup.sh)", file=sys.stderr)
    sys.exit(3)


def records(paths):
    for arg in paths:
        p = pathlib.Path(arg)
        files = sorted([*p.glob("*.json"), *p.glob("*.jsonl")]) if p.is_dir() else [p]
        for f in files:
            if f.suffix == ".jsonl":
                for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                    if line.strip():
                        yield f"{f}:{n}", line
            else:
                yield str(f), f.read_text(encoding="utf-8")


class Validators:
    """One OCSF schema per version, one JSON Schema validator per class and profiles."""

    def __init__(self):
        self.schemas = {}
        self.validators = {}

    def get(self, version, class_uid, profiles):
        if version not in self.schemas:
            self.schemas[version] = OcsfJsonSchemaEmbedded(get_ocsf_schema(version))
        ocsf = self.schemas[version]
        name = ocsf.lookup_class_name_from_uid(class_uid)
        key = (version, name, tuple(sorted(profiles)))
        if key not in self.validators:
            schema = ocsf.get_class_schema(name, profiles=list(profiles))
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            self.validators[key] = (cls(schema), ocsf.schema.schema["classes"][name])
        return self.validators[key]


def check(record, validators):
    """The list of problems of one record (empty when it is valid)."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    meta = record.get("metadata")
    version = meta.get("version") if isinstance(meta, dict) else None
    if not isinstance(version, str):
        return ["metadata.version is missing"]
    profiles = meta.get("profiles") or []
    class_uid = record.get("class_uid")
    try:
        validator, class_def = validators.get(version, class_uid, profiles)
    except (ValueError, FileNotFoundError) as e:
        return [f"no OCSF {version} schema for class_uid {class_uid!r}: {e}"]
    problems = []
    for err in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(record)"
        problems.append(f"{where}: {err.message}")
    activity_id = record.get("activity_id")
    if isinstance(activity_id, int) and record.get("type_uid") != class_uid * 100 + activity_id:
        problems.append(f"type_uid {record.get('type_uid')} is not class_uid * 100 + activity_id")
    category = validators.schemas[version].schema.schema["categories"]["attributes"].get(class_def["category"])
    if category and record.get("category_uid") != category.get("uid"):
        problems.append(f"category_uid {record.get('category_uid')} is not {class_def['category']}'s")
    return problems


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    validators, seen, bad = Validators(), 0, 0
    for where, text in records(argv):
        seen += 1
        try:
            problems = check(json.loads(text), validators)
        except json.JSONDecodeError as e:
            problems = [f"not JSON: {e}"]
        for p in problems:
            print(f"{where}: {p}")
        bad += bool(problems)
    if seen == 0:
        print("ocsf-validate: no record found", file=sys.stderr)
        return 2
    print(f"ocsf-validate: {seen - bad} of {seen} records valid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
