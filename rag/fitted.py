"""A store's own calibration fit (`python -m rag.calibrate`), kept beside the store under an HMAC of its key."""
from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IntegrityError
from rag.fsutil import atomic_write

if TYPE_CHECKING:
    from rag.answer import Calibration

STORE_CALIBRATION = "calibration.json"
FORMAT_VERSION = 1


def _mac(keyring, body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(keyring.derive("calibration"), canonical, hashlib.sha256).hexdigest()


def save_for_store(calibration: Calibration, state_dir: Path, keyring) -> Path:
    body = {"format": FORMAT_VERSION, **calibration.to_dict()}
    path = Path(state_dir) / STORE_CALIBRATION
    atomic_write(path, (json.dumps({**body, "mac": _mac(keyring, body)}, indent=1) + "\n").encode())
    return path


def load_for_store(state_dir: Path, keyring, models: dict[str, str]) -> Calibration | None:
    """The store's own calibration, or None. A changed file is refused: a lowered threshold would
    silently turn abstentions into guesses."""
    path = Path(state_dir) / STORE_CALIBRATION
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
        body = {k: v for k, v in doc.items() if k != "mac"}
        genuine = hmac.compare_digest(str(doc.get("mac", "")), _mac(keyring, body))
    except ValueError:
        genuine = False
    if not genuine:
        raise IntegrityError(f"{path} was changed after it was fitted (its MAC does not match the store's key); "
                             "refit it with python -m rag.calibrate QUESTIONS, or delete it to use the packaged one")
    if body.get("models") != models:
        import warnings

        warnings.warn(f"{path} was fitted with {body.get('models')}, not {models}; refit it with "
                      "python -m rag.calibrate QUESTIONS", stacklevel=2)
    from rag.answer import Calibration

    return Calibration.from_dict(body)
