"""Build a .ipynb from a plain-text notebook source (cells separated by lines '# %% [markdown]' / '# %%').

usage: python3 tools/nbgen.py SRC.nb.ts OUT.ipynb
The .ipynb files in notebooks/ are the sources users open; this helper only saves hand-writing JSON.
"""
import json
import sys


def main(src, out):
    cells, kind, buf = [], None, []

    def flush():
        if kind is None:
            return
        text = "\n".join(buf).strip("\n")
        if kind == "markdown":
            text = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in text.splitlines())
        lines = text.splitlines(keepends=True)
        cell = {"cell_type": kind, "metadata": {}, "source": lines, "id": f"c{len(cells):02d}"}
        if kind == "code":
            cell.update({"execution_count": None, "outputs": []})
        cells.append(cell)

    for line in open(src, encoding="utf-8").read().splitlines():
        if line.startswith("# %%"):
            flush()
            kind, buf = ("markdown" if "[markdown]" in line else "code"), []
        else:
            buf.append(line)
    flush()
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "deno", "display_name": "Deno", "language": "typescript"},
            "language_info": {"name": "typescript", "file_extension": ".ts"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
