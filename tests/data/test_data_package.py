"""graphls.data as a package: a light import."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = ("import sys, graphls.data; "
            "print(','.join(m for m in ('torch', 'torch_geometric', 'ogb', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
