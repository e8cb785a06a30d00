"""Compatibility shim for a CUDA-built torchvision wheel beside a CPU-only torch.

PyPI's torchvision wheels for Linux x86_64 are CUDA builds. Installed next to the CPU build of torch, their
compiled extension ``torchvision/_C.so`` fails to load (it links against CUDA libraries), and torchvision's import
then dies in ``_meta_registrations.py`` with ``RuntimeError: operator torchvision::nms does not exist``
(pytorch/vision#9337) because it registers fake kernels for ops whose schemas were never defined.

``ensure_torchvision_importable()`` runs before torchvision is imported. It tries to load ``_C`` exactly as
torchvision would; only if that fails does it define the two op *schemas* that the import needs (``nms`` and
``qnms``). No kernel is registered, so calling ``torchvision.ops.nms`` still raises; everything ganbench uses
(datasets, transforms, ``make_grid``/``save_image``, torch-fidelity) works. On a normal install (``_C`` loads)
this function does nothing beyond what torchvision's own import does.
"""

from __future__ import annotations

import importlib.util
import os

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_state: dict[str, object] = {"done": False, "shimmed": False}
_LIBRARY = []  # keeps the torch.library.Library object alive (its schemas vanish when it is collected)


def _extension_path() -> str | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in os.listdir(folder):
            if name.startswith("_C.") and name.endswith((".so", ".pyd")):
                return os.path.join(folder, name)
    return None


def ensure_torchvision_importable() -> bool:
    """Make ``import torchvision`` work; return True when the schema shim had to be applied."""
    if _state["done"]:
        return bool(_state["shimmed"])
    _state["done"] = True
    import sys

    import torch

    if "torchvision" in sys.modules:  # imported already: nothing left to fix
        return False
    path = _extension_path()
    if path is None:  # torchvision not installed; its import will say so itself
        return False
    try:
        torch.ops.load_library(path)
        return False
    except (OSError, RuntimeError):
        pass
    lib = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - schemas only, no kernels
    for schema in _SCHEMAS.values():
        lib.define(schema)
    _LIBRARY.append(lib)
    _state["shimmed"] = True
    return True
