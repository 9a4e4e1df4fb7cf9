#!/usr/bin/python3
"""Reads an Iceberg manifest or manifest list with Debian's python3-avro, an
Avro implementation independent of ours, and prints one JSON document:

  {"meta": {header key: value, ...},          (avro.schema left out)
   "field_ids": {"a.b.c": id, ...},            every named field of the schema
                                               with its field-id (dotted path)
   "records": [...]}                           the objects, bytes as hex

usage: read_iceberg_avro.py FILE
"""
import json
import sys
import warnings

# python3-avro warns about Iceberg's logicalType "map" on arrays; that is expected.
warnings.simplefilter("ignore")

import avro.datafile
import avro.io


def field_ids(schema, prefix, out):
    if isinstance(schema, list):
        for branch in schema:
            field_ids(branch, prefix, out)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            for f in schema["fields"]:
                path = prefix + f["name"]
                if "field-id" in f:
                    out[path] = f["field-id"]
                field_ids(f["type"], path + ".", out)
        elif schema.get("type") == "array":
            if "element-id" in schema:
                out[prefix + "element"] = schema["element-id"]
            field_ids(schema["items"], prefix, out)


def plain(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


with open(sys.argv[1], "rb") as f:
    reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
    meta = {k: v.decode() for k, v in reader.meta.items() if k != "avro.schema"}
    ids = {}
    field_ids(json.loads(reader.meta["avro.schema"]), "", ids)
    records = [plain(r) for r in reader]
print(json.dumps({"meta": meta, "field_ids": ids, "records": records}, sort_keys=True))
