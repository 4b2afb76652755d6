"""Execute one Deno notebook headlessly and write the executed .ipynb and an HTML rendering.

usage: python3 tools/run_notebook.py NOTEBOOK OUT_PREFIX [--allow-errors] [--timeout S]
Exit 1 when a cell raised. Works around Deno 2.7's `"transient": null` in display messages, which Debian's
nbclient 0.7 cannot read.
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter


class DenoNotebookClient(NotebookClient):
    """nbclient that tolerates `transient: null` from the Deno kernel."""

    def process_message(self, msg, cell, cell_index):
        content = msg.get("content")
        if isinstance(content, dict) and "transient" in content and content["transient"] is None:
            content["transient"] = {}
        return super().process_message(msg, cell, cell_index)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = argv[1], argv[2]
    timeout = 1800
    if "--timeout" in argv:
        timeout = int(argv[argv.index("--timeout") + 1])
    nb = nbformat.read(src, as_version=4)
    client = DenoNotebookClient(
        nb,
        kernel_name="deno",
        timeout=timeout,
        allow_errors="--allow-errors" in argv,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}},
    )
    rc = 0
    try:
        client.execute()
    except CellExecutionError as e:
        lines = str(e).strip().splitlines()
        print(f"{src}: cell failed: {lines[-1] if lines else repr(e)}", file=sys.stderr)
        rc = 1
    except Exception as e:  # kernel died, timeout
        print(f"{src}: execution failed: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        rc = 1
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "error":
                rc = 1
    tmp = out + ".ipynb.tmp"
    nbformat.write(nb, tmp)
    os.replace(tmp, out + ".ipynb")
    exporter = HTMLExporter()
    exporter.require_js_url = ""
    exporter.mathjax_url = ""
    body, _ = exporter.from_notebook_node(nb)
    with open(out + ".html.tmp", "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(out + ".html.tmp", out + ".html")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
