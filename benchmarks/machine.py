"""The machine a benchmark ran on, recorded beside its numbers.

The CPU varies between sessions (an AMX Xeon, a Zen 4 and a Zen 5 EPYC with native bf16, an AVX2
EPYC where bf16 is 10x slower), and "AMD EPYC" alone does not say which: the family and model
numbers and the bf16 flags do (family 25 = Zen 3/4, 26 = Zen 5).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """``"<model name> (family F, model M; avx512_bf16, amx_bf16; N cores)"`` from /proc/cpuinfo."""
    fields, flags = {}, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model") and key not in fields:
                fields[key] = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        return platform.processor() or "unknown"
    bf16 = [f for f in ("avx512_bf16", "amx_bf16", "avx2") if f in flags]
    return (f"{fields.get('model name', 'unknown')} (family {fields.get('cpu family', '?')}, model "
            f"{fields.get('model', '?')}; {', '.join(bf16) or 'no avx2'}; {os.cpu_count()} cores)")
