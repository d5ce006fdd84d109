"""Oversize kernel files: time and peak RSS until convtool refuses them (issue 30, item 4).

    python tests/bench/bench_kernel_files.py [--mib 254]

Each row runs ``convtool filter IMG -k FILE -o OUT`` in a fresh process and reports the wall
time and the child's peak resident memory (``ru_maxrss``, which includes the interpreter and
numpy: about 40 MB before any kernel is read). Targets: refused in under 2 s and 300 MB.
Files: a one-line text kernel of ``--mib`` MiB, a JSON kernel of about 63 M one-value rows, a
JSON kernel of one flat list of as many values, and a small valid text kernel for reference.

This file is a script: pytest does not collect it (tests/conftest.py ignores tests/bench).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _write_repeated(path: Path, head: bytes, unit: bytes, tail: bytes, total: int) -> None:
    block = unit * max(1, (1 << 20) // len(unit))
    with path.open("wb") as fh:
        fh.write(head)
        written = len(head)
        while written + len(block) + len(tail) < total:
            fh.write(block)
            written += len(block)
        fh.write(tail)


def _run(image: Path, kernel: Path, out: Path) -> tuple[float, float, int, str]:
    cmd = [
        sys.executable,
        "-m",
        "convtool",
        "filter",
        str(image),
        "-k",
        str(kernel),
        "-o",
        str(out),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak, not the largest child's
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    return seconds, usage.ru_maxrss / 1024, proc.returncode, stderr.strip()[:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=254, help="size of the big files in MiB")
    args = parser.parse_args()
    total = args.mib << 20
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        image = d / "in.png"
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
        (d / "small.txt").write_text("1 2 1\n2 4 2\n1 2 1\n")
        rows = [("valid 3x3 text kernel", d / "small.txt")]
        _write_repeated(d / "line.txt", b"", b"1 ", b"\n", total)
        rows.append((f"{args.mib} MiB one-line text", d / "line.txt"))
        _write_repeated(d / "rows.json", b"[", b"[1],", b"[1]]", total)
        rows.append((f"{args.mib} MiB JSON, ~{total // 4 / 1e6:.0f} M rows", d / "rows.json"))
        _write_repeated(d / "flat.json", b'{"weights": [', b"1,", b"1]}", total)
        rows.append((f"{args.mib} MiB JSON, one flat list", d / "flat.json"))
        print("| kernel file | seconds | peak RSS MB | exit | message |")
        print("|---|---|---|---|---|")
        for label, path in rows:
            seconds, peak, code, message = _run(image, path, d / "out.png")
            print(f"| {label} | {seconds:.2f} | {peak:.0f} | {code} | {message} |")


if __name__ == "__main__":
    main()
