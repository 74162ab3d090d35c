"""Device profiles (profiles/devices/*.toml): threads, batch sizes, providers, warm-up and iterations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eegdeploy.config import TOMLDecodeError, parse_toml
from eegdeploy.errors import ConfigError, unknown_name

FIELDS = ("name", "description", "device", "threads", "batches", "providers", "warmup", "iters", "min_time_s")


def devices_dir() -> Path:
    from eegdeploy.config import profiles_dir

    return profiles_dir() / "devices"


def list_devices() -> list[str]:
    return sorted(p.stem for p in devices_dir().glob("*.toml"))


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    description: str = ""
    device: str = "cpu"
    threads: int = 1
    batches: tuple[int, ...] = (1, 64)
    providers: tuple[str, ...] = ()
    warmup: int = 5
    iters: int = 30
    min_time_s: float = 0.0


def load_device(name_or_path: str) -> DeviceProfile:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = devices_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise unknown_name("device profile", name_or_path, list_devices())
    if not path.is_file():
        raise ConfigError(f"device profile {str(path)!r} does not exist", fix="check the path")
    try:
        raw = parse_toml(path.read_text(encoding="utf-8"), f"device profile {path.name}")
    except (TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path.name}: {err}", fix="fix the TOML syntax at that line") from None
    bad = sorted(set(raw) - set(FIELDS))
    if bad:
        raise ConfigError(f"{path.name}: unknown key(s) {bad}", fix=f"use: {', '.join(FIELDS)}")
    threads = raw.get("threads", 1)
    if threads == "all":
        threads = os.cpu_count() or 1
    try:
        prof = DeviceProfile(name=str(raw.get("name", path.stem)), description=str(raw.get("description", "")),
                             device=str(raw.get("device", "cpu")), threads=int(threads),
                             batches=tuple(int(b) for b in raw.get("batches", (1, 64))),
                             providers=tuple(str(p) for p in raw.get("providers", ())),
                             warmup=int(raw.get("warmup", 5)), iters=int(raw.get("iters", 30)),
                             min_time_s=float(raw.get("min_time_s", 0.0)))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path.name}: {err}", fix="threads, warmup and iters are integers, batches a list") from None
    if prof.device not in ("cpu", "cuda"):
        raise unknown_name("device", prof.device, ("cpu", "cuda"))
    if prof.threads < 1 or prof.iters < 1 or prof.warmup < 0 or not prof.batches or min(prof.batches) < 1:
        raise ConfigError(f"{path.name}: threads, iters and batches must be positive", fix="fix the values")
    return prof
