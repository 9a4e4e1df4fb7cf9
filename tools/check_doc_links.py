#!/usr/bin/env python3
"""Fails when a Markdown file of the repository links to a relative path that
does not exist, or to a #fragment that names no heading of the target file.

usage: tools/check_doc_links.py [REPO_ROOT]
Checks every *.md outside build/ and node_modules/. Links with a scheme
(http:, https:, mailto:) are not followed: the project is offline.
"""
import os
import re
import sys

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCED = re.compile(r"```.*?```", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
SKIP_DIRS = {"build", "node_modules", ".git"}


def anchors(path: str) -> set[str]:
    """GitHub's heading ids: lowercase, punctuation dropped, spaces to '-'."""
    out = set()
    with open(path, encoding="utf-8") as f:
        text = FENCED.sub("", f.read())
    for line in text.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            title = m.group(1).strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def check(root: str) -> list[str]:
    errors = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build")]
        for name in filenames:
            if not name.endswith(".md"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8") as f:
                text = CODE.sub("", f.read())
            for target in LINK.findall(text):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue
                file_part, _, fragment = target.partition("#")
                resolved = os.path.normpath(os.path.join(dirpath, file_part)) if file_part else path
                rel = os.path.relpath(path, root)
                if not os.path.exists(resolved):
                    errors.append(f"{rel}: link to missing {target}")
                elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                    errors.append(f"{rel}: link to {target}: no such heading")
    return errors


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    errors = check(root)
    for e in errors:
        print(e)
    print(f"check_doc_links: {len(errors)} broken link(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
