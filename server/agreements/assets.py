"""Where the printed papers' templates and stylesheets lie.

Apart from ``render`` so that modules which only name these paths (the 笔录,
the court application) do not import WeasyPrint into the server process:
the PDF libraries are loaded in the agreement worker only (``works``).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE_DIR = ROOT / "agreements" / "templates"
