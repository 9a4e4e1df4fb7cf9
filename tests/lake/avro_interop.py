#!/usr/bin/python3
"""Independent check of src/lake/avro.{h,cc} with Debian's python3-avro (1.11).

  avro_interop.py read FILE    prints the file's metadata and objects as one
                               canonical JSON document (see canon below)
  avro_interop.py write FILE   writes SAMPLE_SCHEMA / SAMPLE_RECORDS (codec
                               null, two blocks, extra metadata key) to FILE

Canonical form, so C++ can produce the same text without a JSON library:
strings and bytes become "s:<hex>" / "b:<hex>", floats "d:<bits of the
double>", datetimes (timestamp-micros) their microseconds, dicts (records and maps) lists of [hex key, value] sorted by key.
"""
import datetime
import json
import struct
import sys

import avro.datafile
import avro.io
import avro.schema


def canon(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return "d:%d" % struct.unpack("<q", struct.pack("<d", v))[0]
    if isinstance(v, datetime.datetime):  # python3-avro decodes timestamp-micros
        epoch = datetime.datetime(1970, 1, 1, tzinfo=v.tzinfo)
        return (v - epoch) // datetime.timedelta(microseconds=1)
    if isinstance(v, str):
        return "s:" + v.encode("utf-8").hex()
    if isinstance(v, (bytes, bytearray)):
        return "b:" + bytes(v).hex()
    if isinstance(v, list):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return sorted([k.encode("utf-8").hex(), canon(x)] for k, x in v.items())
    raise TypeError(type(v))


SAMPLE_SCHEMA = """{"type": "record", "name": "sample", "namespace": "py.test", "fields": [
  {"name": "id", "type": "long", "field-id": 1},
  {"name": "small", "type": "int"},
  {"name": "flag", "type": "boolean"},
  {"name": "ratio", "type": "float"},
  {"name": "score", "type": "double"},
  {"name": "name", "type": "string"},
  {"name": "blob", "type": "bytes"},
  {"name": "digest", "type": {"type": "fixed", "name": "md5", "size": 4}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "counts", "type": {"type": "map", "values": "long"}},
  {"name": "maybe", "type": ["null", "string", "md5"]},
  {"name": "inner", "type": ["null", {"type": "record", "name": "inner_t", "fields": [
     {"name": "x", "type": "int"}, {"name": "y", "type": {"type": "array", "items": "inner_t"}}]}]}
]}"""

SAMPLE_RECORDS = [
    {"id": 0, "small": 0, "flag": False, "ratio": 0.0, "score": 0.0, "name": "", "blob": b"",
     "digest": b"\x00\x00\x00\x00", "tags": [], "counts": {}, "maybe": None, "inner": None},
    {"id": -1, "small": 64, "flag": True, "ratio": 1.5, "score": -2.25, "name": "caf\u00e9",
     "blob": b"\x00\xff\x01", "digest": b"abcd", "tags": ["a", "bc"], "counts": {"k": 7, "z": -64},
     "maybe": "hi", "inner": {"x": 3, "y": [{"x": 4, "y": []}]}},
    {"id": 2**62, "small": -2**31, "flag": True, "ratio": -0.5, "score": 1e300, "name": "x" * 200,
     "blob": bytes(range(256)), "digest": b"\x01\x02\x03\x04", "tags": ["t"] * 70,
     "counts": {"only": 2**63 - 1}, "maybe": b"wxyz", "inner": {"x": -1, "y": []}},
]


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "read":
        with open(path, "rb") as f:
            reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            meta = sorted([k.encode("utf-8").hex(), bytes(v).hex()] for k, v in reader.meta.items())
            objects = [canon(r) for r in reader]
            reader.close()
        print(json.dumps({"meta": meta, "objects": objects}, separators=(",", ":")))
    elif mode == "write":
        schema = avro.schema.parse(SAMPLE_SCHEMA)
        with open(path, "wb") as f:
            writer = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schema, codec="null")
            writer.set_meta("origin", b"python3-avro")
            writer.append(SAMPLE_RECORDS[0])
            writer.sync()  # ends the first block
            for r in SAMPLE_RECORDS[1:]:
                writer.append(r)
            writer.close()
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
