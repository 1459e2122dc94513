"""A trained model's card: ``card.json`` for programs and the same facts as ``README.md`` for people."""

from __future__ import annotations

import json
from pathlib import Path


def write_model_card(folder: Path, card: dict, title: str, used_by: str, facts: list[str]) -> None:
    """Write both files: the README names the model (``title``), says where the product uses it
    (``used_by``), lists ``facts`` (the trainer's own lines) between its base and data and its file
    and rebuild command."""
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    lines = [
        f"# {title}",
        "",
        f"{card['what']}. {used_by}",
        "",
        f"- **Base:** {card['base']}.",
        f"- **Data:** {card['data']}.",
        *facts,
        f"- **File:** {card['file']}, sha256 `{card['sha256']}`.",
        f"- **Rebuild:** `{card['command']}` (or `make train`). The product's figures with it are in bench/README.md.",
    ]
    (folder / "README.md").write_text("\n".join(lines) + "\n")
