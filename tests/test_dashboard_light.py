"""The hosted dashboard stays light: its modules never pull in the precompute stack."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "sklearn", "umap", "numba", "scipy", "datasets", "wordfreq", "tqdm", "ray",
         "filelock", "babel", "safetensors", "tokenizers")


def test_dashboard_modules_import_nothing_heavy() -> None:
    """dashboard/requirements.txt (streamlit, altair, numpy, pandas, pyarrow, annoy, requests) can host it."""
    modules = sorted(p.stem for p in (REPO / "dashboard").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import dashboard.{m}\n" for m in modules if m != "app")
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
