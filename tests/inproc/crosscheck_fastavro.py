#!/usr/bin/env python3
"""Cross-check the golden bytes of tests/inproc/avro_golden.rs with an independent Avro
implementation (fastavro): the CRC-64-AVRO fingerprints of schemas/*.avsc, the
single-object and Confluent headers, and that every body decodes completely.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install fastavro
    /tmp/v/bin/python tests/inproc/crosscheck_fastavro.py

Not part of `cargo test` (it needs Python and fastavro); run it after changing a
schema or the golden constants.
"""
import io
import json
import pathlib
import re
import sys

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

ROOT = pathlib.Path(__file__).resolve().parents[2]
source = (ROOT / "tests" / "inproc" / "avro_golden.rs").read_text()
consts = {}
for name, body in re.findall(r'const ([A-Z_]+): &str = (concat!\(.*?\)|"[0-9a-f]*");', source, re.S):
    consts[name] = "".join(re.findall(r'"([0-9a-f]*)"', body))

failures = 0
schemas = {}
for stem, const in [("membership_key", "KEY_FINGERPRINT"), ("change_event", "EVENT_FINGERPRINT"),
                    ("state_value", "STATE_FINGERPRINT")]:
    schema = parse_schema(json.loads((ROOT / "schemas" / f"{stem}.avsc").read_text()))
    schemas[stem] = schema
    fp = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")  # little-endian hex
    ok = fp == consts[const]
    failures += not ok
    print(f"{'ok ' if ok else 'BAD'} {stem}: fastavro fingerprint {fp}, golden {consts[const]}")

checks = [("SO_EVENT_KEY", "membership_key"), ("SO_EVENT_VALUE", "change_event"),
          ("SO_MEMBER_KEY", "membership_key"), ("SO_MEMBER_VALUE", "state_value"),
          ("SO_CHECKPOINT_KEY", "membership_key"), ("SO_CHECKPOINT_VALUE", "state_value"),
          ("CF_EVENT_KEY", "membership_key"), ("CF_EVENT_VALUE", "change_event"),
          ("CF_CHECKPOINT_KEY", "membership_key"), ("CF_CHECKPOINT_VALUE", "state_value")]
fp_const = {"membership_key": "KEY_FINGERPRINT", "change_event": "EVENT_FINGERPRINT",
            "state_value": "STATE_FINGERPRINT"}
for const, stem in checks:
    data = bytes.fromhex(consts[const])
    if const.startswith("SO_"):
        header_ok = data[:2] == b"\xc3\x01" and data[2:10].hex() == consts[fp_const[stem]]
        body = data[10:]
    else:
        header_ok = data[0] == 0
        body = data[5:]
    reader = io.BytesIO(body)
    try:
        value = schemaless_reader(reader, schemas[stem], None)
        complete = reader.read() == b""
    except Exception as e:  # noqa: BLE001 - report any decoding failure
        value, complete = repr(e), False
    ok = header_ok and complete
    failures += not ok
    print(f"{'ok ' if ok else 'BAD'} {const}: {value}")

sys.exit(1 if failures else 0)
