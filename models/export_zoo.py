"""Write the pycls and timm configs of the 24 published RegNetX/Y models into models/pycls/ and models/timm/.

    python models/export_zoo.py            # rewrite them (tests/test_zoo_exports.py checks they are current)

Each file is `designspace.net.export`'s form of `zoo.get(name)`: pycls's `MODEL`/`REGNET` keys (a file
`pycls/tools/train_net.py --cfg` reads) and timm's `RegNetCfg` fields with the published model's timm name.
"""

from __future__ import annotations

import sys
from pathlib import Path

from designspace.net import zoo
from designspace.net.describe import export_yaml

HERE = Path(__file__).resolve().parent
TARGETS = ("pycls", "timm")


def files() -> dict[Path, str]:
    """Every file this script writes, and its text."""
    out = {}
    for target in TARGETS:
        for name in zoo.names():
            header = f"# {name} in {target}'s form; written by models/export_zoo.py (designspace.net.export)\n"
            out[HERE / target / f"{name}.yaml"] = header + export_yaml(zoo.get(name), target, name)
    return out


def main() -> int:
    for path, text in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(TARGETS) * len(zoo.names())} files under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
