#!/usr/bin/env python3
"""Prints, as one shell script, the ```sh blocks of a Markdown file that lie
between <!-- test:NAME --> and <!-- /test:NAME -->, so that a test runs the
commands a reader copies from the docs, exactly as written.

usage: tools/doc_blocks.py FILE NAME
Exit 1 with a message when the markers are missing or enclose no sh block.
"""
import re
import sys


def blocks(text: str, name: str) -> list[str]:
    begin = f"<!-- test:{name} -->"
    end = f"<!-- /test:{name} -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise ValueError(f"expected one {begin} and one {end}")
    section = text[text.index(begin) + len(begin):text.index(end)]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    path, name = sys.argv[1], sys.argv[2]
    try:
        with open(path, encoding="utf-8") as f:
            found = blocks(f.read(), name)
    except (OSError, ValueError) as e:
        print(f"doc_blocks: {path}: {e}", file=sys.stderr)
        return 1
    if not found:
        print(f"doc_blocks: {path}: no ```sh block inside test:{name}", file=sys.stderr)
        return 1
    for i, block in enumerate(found, 1):
        print(f"# --- {path}, test:{name}, block {i}")
        print(block, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
