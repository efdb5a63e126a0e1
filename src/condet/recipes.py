"""Named presets of a training command's sizes and precision: what condet measured, by default.

A training config's options that a recipe sets default to ``None``; :func:`apply_recipe` fills
those the user left unset from the recipe ``--recipe`` names, so any explicit option wins, and
the run's ``config.yaml`` then holds every value the recipe set (and ``recipe`` the one used),
so the run repeats exactly on any machine. Each command keeps its table of recipes beside its
config (``DetectConfig.RECIPES``, ...); the names mean the same everywhere:

- ``cpu``: the recipe condet measured on CPUs (docs/results.md), with bf16 autocast where the
  CPU computes bf16 natively (``avx512_bf16`` or AMX: checked, not assumed);
- ``gpu``: the sizes of torchvision's (or the paper's) reference recipe, in bf16 autocast (fp16
  where the GPU has no bf16);
- ``reference``: the same reference sizes in float32 on any device, to compare with published
  numbers;
- ``auto`` (the default): ``gpu`` when the run's accelerator is a GPU, else ``cpu``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

RecipeName = Literal["auto", "cpu", "gpu", "reference"]
RECIPE_NAMES: tuple[str, ...] = ("auto", "cpu", "gpu", "reference")

# In a recipe table: the fastest precision the run's device computes well (fast_precision).
FAST_PRECISION = "fast"


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX): without them bf16 autocast
    is emulated and slower than float32."""
    import torch

    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    capabilities = get_capabilities() if get_capabilities is not None else {}
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def fast_precision(device_type: str) -> str:
    """``bf16-mixed`` where ``device_type`` computes bf16 well, ``16-mixed`` on a CUDA GPU
    without bf16, else ``32-true``."""
    import torch

    if device_type == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if device_type == "cpu" and cpu_has_bf16():
        return "bf16-mixed"
    return "32-true"


def resolve_recipe_name(name: str, accelerator: str) -> str:
    """The recipe ``name`` means on ``accelerator``: ``auto`` is ``gpu`` on any GPU."""
    # Imported here, as torch: building the command line's parser must not load it.
    from condet.devices import accelerator_device

    if name != "auto":
        return name
    return "cpu" if accelerator_device(accelerator).type == "cpu" else "gpu"


def apply_recipe(config: Any, recipes: Mapping[str, Mapping[str, Any]]) -> None:
    """Fill ``config``'s unset (``None``) options from the recipe ``config.recipe`` names.

    ``config`` has ``recipe`` and ``accelerator`` fields; ``recipe`` becomes the resolved name
    (``auto`` -> ``cpu`` / ``gpu``). A config whose options are all set keeps them: a resumed
    run's ``config.yaml``, or a protocol that names every value.
    """
    from condet.devices import accelerator_device

    name = resolve_recipe_name(config.recipe, config.accelerator)
    device_type = accelerator_device(config.accelerator).type
    for option, value in recipes[name].items():
        if getattr(config, option) is None:
            setattr(
                config, option, fast_precision(device_type) if value == FAST_PRECISION else value
            )
    config.recipe = name


def recipe_help(recipes: Mapping[str, Mapping[str, Any]], option: str) -> str:
    """What each recipe sets ``option`` to, for its flag's help: ``cpu 320, gpu 800, ...``."""
    shown = {
        name: "bf16 where fast" if values[option] == FAST_PRECISION else values[option]
        for name, values in recipes.items()
    }
    return "default: the recipe's (" + ", ".join(f"{n} {v}" for n, v in shown.items()) + ")"
