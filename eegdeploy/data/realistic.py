"""Realistic synthetic EEG for DEAP-style valence tasks (``--data synthetic:realistic``).

The easy generator (``synthetic.py``) writes the class signal straight into the features, so every baseline
reaches 85-95% and pruning methods cannot be told apart. This one simulates what a DEAP recording is made of and
lets the profile's own feature pipeline (``deap.subject_features``, the same code that reads real DEAP files) turn
it into model inputs:

- **sources**: 16 cortical patches on a spherical cap, jittered per subject, mixed onto DEAP's 32 electrodes
  through a smooth (Gaussian in great-circle distance) lead field, so neighbouring electrodes are correlated;
- **background**: 1/f^beta activity per source, beta drawn per subject (1.2-2.0);
- **rhythms**: posterior alpha at the subject's individual alpha frequency (9-11.5 Hz, +-0.3 Hz per trial),
  central beta (18-24 Hz), weak gamma (~40 Hz); alpha waxes and wanes with a slow (<0.25 Hz) envelope;
- **non-stationarity**: electrode gains drift across the session, a trial-wide "state" scales alpha and
  broadband power, and rhythm envelopes change within a trial;
- **artifacts**: eye blinks (Poisson, 8-25 per minute per subject, frontal topography decaying backwards) and
  muscle bursts (broadband above 20 Hz over temporal sites, 1-6 per minute);
- **class effect** (valence): a latent valence per trial shifts frontal alpha asymmetry (less left-frontal alpha
  for positive valence) and lateral-temporal gamma power, each by a per-subject amount that can even flip sign;
- **labels**: a self-report rating = 5 + 2 * (rho * latent + noise), thresholded at 5 like DEAP, so a rating
  near the midpoint is often on the wrong side (label noise).

Everything is seeded per subject: subject ``s`` of seed ``k`` is the same recording whatever the number of
subjects asked for. Model inputs are cached on disk (``cache_dir()``), keyed by every setting that changes them.
See docs/data.md for what each parameter models and the sources for its size.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from eegdeploy.config import Profile
from eegdeploy.data.deap import input_kind
from eegdeploy.data.electrodes import DEAP_CHANNELS, DEAP_GRID, to_grid
from eegdeploy.errors import ConfigError, DataError

__all__ = ["GENERATOR_VERSION", "BANDS_HZ", "RealisticConfig", "Recording", "band_de", "cache_dir", "electrode_positions",
           "load_realistic", "parse_realistic", "simulate_subject"]

GENERATOR_VERSION = 2
FS = 128.0
ALPHA_AMP, BETA_AMP, GAMMA_AMP = 1.0, 0.3, 0.3  # rhythm amplitudes relative to the unit-variance 1/f background
N_SOURCES = 16
FLIP = 0.1  # share of subjects whose valence effects have the opposite sign
BASELINE_S = 3  # DEAP trials start with a 3 s pre-trial baseline, which the feature pipeline drops


@dataclass(frozen=True)
class RealisticConfig:
    """Size and effect settings. The defaults are DEAP's size (32 subjects x 40 one-minute trials)."""

    subjects: int = 32
    trials: int = 40
    seconds: int = 60
    faa: float = 1.0  # frontal alpha asymmetry: log-amplitude change per unit latent valence
    gamma: float = 0.6  # lateral temporal gamma: log-amplitude change per unit latent valence
    rating_reliability: float = 0.85  # correlation of the self-report with the latent valence
    blinks: bool = True
    muscle: bool = True

    def __post_init__(self) -> None:
        for name in ("subjects", "trials", "seconds"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"synthetic:realistic {name}={v!r} is not a positive integer",
                                  fix=f"e.g. synthetic:realistic:{name}=8")
        if self.seconds < 4:
            raise ConfigError(f"synthetic:realistic seconds={self.seconds} is shorter than a 4 s window",
                              fix="use seconds=4 or more")
        if not 0.0 <= self.rating_reliability <= 1.0:
            raise ConfigError(f"synthetic:realistic rating_reliability={self.rating_reliability!r} is not in [0, 1]",
                              fix="e.g. rating_reliability=0.85")


def parse_realistic(spec: str) -> RealisticConfig:
    """``subjects=8,trials=20,seconds=30`` (the part after ``synthetic:realistic:``) -> RealisticConfig."""
    if not spec:
        return RealisticConfig()
    types = {f.name: f.type for f in fields(RealisticConfig)}
    values: dict[str, object] = {}
    for item in spec.split(","):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in types:
            raise ConfigError(f"synthetic:realistic option {item.strip()!r} is not key=value with a known key",
                              fix=f"use: {', '.join(sorted(types))} (e.g. synthetic:realistic:subjects=8,trials=20)")
        raw = raw.strip()
        try:
            if types[key] == "bool":
                if raw.lower() not in ("0", "1", "true", "false", "on", "off"):
                    raise ValueError
                values[key] = raw.lower() in ("1", "true", "on")
            else:
                values[key] = int(raw) if types[key] == "int" else float(raw)
        except ValueError:
            what = {"int": ("a whole number", "20"), "float": ("a number", "0.8"),
                    "bool": ("on or off", "off")}.get(str(types[key]), (str(types[key]), ""))
            raise ConfigError(f"synthetic:realistic {key}={raw!r} is not {what[0]}",
                              fix=f"e.g. synthetic:realistic:{key}={what[1]}") from None
    return RealisticConfig(**values)  # type: ignore[arg-type]


def cache_dir() -> Path:
    """Where generated sets are cached: $EEGDEPLOY_CACHE, else $XDG_CACHE_HOME/eegdeploy, else ~/.cache/eegdeploy."""
    env = os.environ.get("EEGDEPLOY_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eegdeploy"


# ---------------------------------------------------------------- geometry


def electrode_positions(names=DEAP_CHANNELS) -> np.ndarray:
    """Unit vectors [E, 3] (x right, y front, z up) from the 9x9 grid: an azimuthal equidistant map with Cz at
    the vertex and the outer ring (Fp, T7/T8, O) about 72 degrees below it, as in the 10-20 system."""
    out = []
    for n in names:
        r, c = DEAP_GRID[n]
        x, y = (c - 4) / 4.0, (4 - r) / 4.0
        theta = np.deg2rad(72.0) * np.hypot(x, y)
        phi = np.arctan2(y, x)
        out.append((np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)))
    return np.asarray(out)


def _cap_points(n: int) -> np.ndarray:
    """n points spread evenly (Fibonacci lattice) over the cap within 80 degrees of the vertex."""
    i = np.arange(n) + 0.5
    z = 1 - (1 - np.cos(np.deg2rad(80))) * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    rho = np.sqrt(1 - z ** 2)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _lead_field(elec: np.ndarray, src: np.ndarray, width: float = 0.45) -> np.ndarray:
    """[E, J]: Gaussian in the great-circle angle between electrode and source (volume conduction blurs)."""
    ang = np.arccos(np.clip(elec @ src.T, -1, 1))
    return np.exp(-0.5 * (ang / width) ** 2)


# ---------------------------------------------------------------- signals


def _shaped(rng: np.random.Generator, shape: tuple[int, ...], psd: np.ndarray, n: int) -> np.ndarray:
    """float32 Gaussian noise whose power spectrum is ``psd`` (broadcast over ``shape`` + [freqs]); the variance
    of each series is about ``psd.sum(-1)`` (so a psd normalised to sum 1 gives unit variance).

    Random coefficients are drawn only for the bins where some series has power (a narrow alpha bump needs about a
    tenth of them): the Gaussian draws are most of the generator's cost."""
    from scipy import fft

    psd = np.asarray(psd, dtype=np.float32)
    amp = np.sqrt(psd)
    flat = amp.reshape(-1, amp.shape[-1]).max(axis=0)
    live = np.flatnonzero(flat > 1e-6 * flat.max())  # bins below this carry < 1e-12 of the peak power
    lo, hi = (int(live[0]), int(live[-1]) + 1) if len(live) else (0, 0)
    spec = np.zeros((*shape, n // 2 + 1), dtype=np.complex64)
    draws = rng.standard_normal((*shape, 2, hi - lo), dtype=np.float32)
    spec[..., lo:hi] = draws[..., 0, :] + np.complex64(1j) * draws[..., 1, :]
    spec *= amp * np.float32(n / 2)
    return fft.irfft(spec, n=n, axis=-1).astype(np.float32, copy=False)


def _norm(p: np.ndarray) -> np.ndarray:
    return p / p.sum(axis=-1, keepdims=True)


def _bump(f: np.ndarray, centre: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((f - centre) / width) ** 2)


@dataclass
class Recording:
    """One simulated subject in DEAP's preprocessed layout."""

    eeg: np.ndarray  # float32 [trials, 32, (3 + seconds) * 128] in microvolts, DEAP_CHANNELS order
    ratings: np.ndarray  # float64 [trials, 4]: valence, arousal, dominance, liking on 1..9
    latent: np.ndarray  # float64 [trials]: the latent valence the EEG effect follows
    fs: float = FS


def _rng(seed: int, subject: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(subject), GENERATOR_VERSION, stream]))


def simulate_subject(subject: int, cfg: RealisticConfig = RealisticConfig(), *, seed: int = 0) -> Recording:
    """Simulate one subject's session; depends only on (seed, subject, cfg)."""
    rng = _rng(seed, subject)
    n_tr, n = cfg.trials, int((BASELINE_S + cfg.seconds) * FS)
    f = np.fft.rfftfreq(n, 1 / FS)
    elec = electrode_positions()
    e = len(elec)

    # subject: anatomy (source jitter, gains), rhythms, class-effect strength
    src = _unit(_cap_points(N_SOURCES) + 0.08 * rng.standard_normal((N_SOURCES, 3)))
    j = len(src)
    lead = _lead_field(elec, src)
    lead /= lead.sum(axis=1, keepdims=True)
    gain0 = np.exp(0.2 * rng.standard_normal(e))  # impedance / skull thickness
    slope = rng.uniform(1.2, 2.0)  # aperiodic exponent of the power spectrum
    iaf = rng.uniform(9.0, 11.5)  # individual alpha frequency
    beta_f = rng.uniform(18.0, 24.0)
    x, y, z = src.T
    posterior = 1 / (1 + np.exp(8 * (y + 0.15)))
    alpha_amp = (0.25 + 0.75 * posterior) * np.exp(0.25 * rng.standard_normal(j))
    beta_amp = 0.5 + 0.5 * np.exp(-((np.abs(x) - 0.45) ** 2 + y ** 2) / 0.08)
    frontal = 1 / (1 + np.exp(-8 * (y - 0.3)))
    faa_map = frontal * np.tanh(4 * x)  # <0 left, >0 right
    temporal = np.clip(np.abs(x) - 0.5, 0, None) / 0.5 * (z < 0.6)
    sign = lambda: -1.0 if rng.random() < FLIP else 1.0  # noqa: E731 - a minority shows the opposite effect
    k_faa = cfg.faa * np.exp(np.clip(0.5 * rng.standard_normal(), -1, 1)) * sign()  # per-subject size, at most e x
    k_gamma = cfg.gamma * np.exp(np.clip(0.5 * rng.standard_normal(), -1, 1)) * sign()
    left = rng.uniform(0.0, 1.0)  # how much of the gamma effect sits over the left (vs right) temporal sites
    temporal = temporal * np.where(x < 0, 2 * left, 2 * (1 - left))
    bias = 0.6 * rng.standard_normal()  # subjects rate on their own scale: some call most clips pleasant
    blink_rate = rng.uniform(8, 25) / 60.0
    muscle_rate = rng.uniform(1, 6) / 60.0
    noise_uv = rng.uniform(0.5, 1.2)

    # trials: latent valence, ratings, state
    latent = rng.standard_normal(n_tr)
    rho = cfg.rating_reliability
    valence = np.clip(5 + 2 * (bias + rho * latent + np.sqrt(1 - rho ** 2) * rng.standard_normal(n_tr)), 1, 9)
    ratings = np.column_stack([valence, np.clip(5 + 2 * rng.standard_normal((n_tr, 3)), 1, 9)])
    ratings = np.where(np.isclose(ratings, 5.0), 5.01, ratings)
    drift = np.exp(np.cumsum(0.02 * rng.standard_normal((n_tr, e)), axis=0))  # gains drift over the session
    state_alpha = np.exp(0.3 * rng.standard_normal((n_tr, 1)))
    state_broad = np.exp(0.15 * rng.standard_normal((n_tr, 1)))

    # source activity: one spectrum per trial and source for background + beta + gamma, alpha apart so that it
    # can wax and wane (amplitude envelope) within the trial
    ff = np.maximum(f, 1.0)
    p_bg = _norm(ff ** -slope)
    p_beta = _norm(_bump(f, beta_f + rng.standard_normal((n_tr, 1, 1)), 3.0))
    p_gamma = _norm(_bump(f, 40.0, 6.0))
    lv = np.tanh(latent)[:, None]  # the EEG effect saturates: an extreme rating does not mean an extreme spectrum
    g_gain = GAMMA_AMP * np.exp(k_gamma * lv * temporal)  # [trials, sources]
    psd = (state_broad[..., None] ** 2 * p_bg + (BETA_AMP * beta_amp)[None, :, None] ** 2 * p_beta
           + g_gain[..., None] ** 2 * p_gamma)
    s = _shaped(rng, (n_tr, j), psd, n)
    trial_iaf = iaf + 0.3 * rng.standard_normal((n_tr, 1, 1))
    alpha = _shaped(rng, (n_tr, j), _norm(_bump(f, trial_iaf, 0.9)), n)
    env = _shaped(rng, (n_tr, 1), _norm((f < 0.25) * 1.0), n)
    a_gain = ALPHA_AMP * alpha_amp * state_alpha * np.exp(k_faa * lv * faa_map)  # [trials, sources]
    s += (a_gain[..., None] * np.exp(0.4 * env - 0.08)).astype(np.float32) * alpha
    eeg = np.matmul((lead * 10.0).astype(np.float32), s)  # [trials, electrodes, time], ~10 uV at the scalp

    if cfg.blinks:
        front_eye = _unit(np.array([0.0, 0.95, -0.3]))
        topo = np.exp(-0.5 * (np.arccos(np.clip(elec @ front_eye, -1, 1)) / 0.35) ** 2)
        kernel_t = np.arange(-int(0.4 * FS), int(0.4 * FS) + 1) / FS
        for t in range(n_tr):
            k = rng.poisson(blink_rate * n / FS)
            train = np.zeros(n)
            np.add.at(train, rng.integers(0, n, size=k), rng.lognormal(np.log(80), 0.3, size=k))
            wave = np.convolve(train, np.exp(-0.5 * (kernel_t / rng.uniform(0.05, 0.08)) ** 2), mode="same")
            eeg[t] += (topo[:, None] * wave[None, :]).astype(np.float32)
    if cfg.muscle:
        emg = _shaped(rng, (n_tr,), _norm(np.where(f > 20, 1.0, 0.0)), n)
        lat = np.clip(np.abs(elec[:, 0]) - 0.45, 0, None) / 0.55
        for t in range(n_tr):
            k = rng.poisson(muscle_rate * n / FS)
            if k == 0:
                continue
            envm = np.zeros(n)
            for start, dur in zip(rng.integers(0, n, size=k), rng.uniform(0.5, 2.0, size=k)):
                envm[start:start + int(dur * FS)] = rng.uniform(5, 15)
            side = rng.choice([-1.0, 1.0, 0.0])  # left, right or both (jaw clench)
            topo = lat * (1.0 if side == 0 else (np.sign(elec[:, 0]) == side))
            eeg[t] += (topo[:, None] * (envm * emg[t])[None, :]).astype(np.float32)
    eeg *= (gain0 * drift).astype(np.float32)[:, :, None]
    eeg += np.float32(noise_uv) * rng.standard_normal(eeg.shape, dtype=np.float32)
    return Recording(eeg.astype(np.float32), ratings, latent)


# ---------------------------------------------------------------- model inputs, cached


def _check_profile(profile: Profile) -> None:
    if not input_kind(profile):
        raise ConfigError(f"synthetic:realistic cannot make profile {profile.name!r}'s input "
                          f"(layout {list(profile.input.layout)}, shape {list(profile.input.shape)})",
                          fix="it makes band x 9 x 9 DE grids, time x 9 x 9 raw grids and 1 x electrodes x time "
                              "windows; use one of those profiles or --data synthetic:easy")
    if profile.task not in ("valence", "", None):
        raise ConfigError(f"synthetic:realistic models valence only, profile {profile.name!r} asks for "
                          f"{profile.task!r}", fix="use a valence profile (ccnn-deap, tsception-deap, eegnet-deap ...)")
    names = list(profile.input.electrodes) or list(DEAP_CHANNELS)
    upper = {c.upper() for c in DEAP_CHANNELS}
    missing = [x for x in names if x.upper() not in upper]
    if missing or int(profile.input.sampling_rate or 128) != int(FS):
        raise ConfigError(f"synthetic:realistic simulates DEAP's 32 electrodes at 128 Hz; profile {profile.name!r} "
                          f"needs {missing or str(profile.input.sampling_rate) + ' Hz'}",
                          fix="use a DEAP profile (eegdeploy profiles), or --data synthetic:easy")


def _cache_key(cfg: RealisticConfig, profile: Profile, seed: int) -> str:
    inp = profile.input
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()  # any change to the generator invalidates
    key = {"v": GENERATOR_VERSION, "code": code, "cfg": asdict(cfg), "seed": seed, "shape": list(inp.shape),
           "layout": list(inp.layout), "electrodes": list(inp.electrodes), "fs": inp.sampling_rate,
           "grid": inp.grid}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


BANDS_HZ: tuple[tuple[float, float], ...] = ((4, 8), (8, 14), (14, 31), (31, 49))  # torcheeg's theta..gamma


def _band_kernels(n: int, fs: float, bands, order: int) -> np.ndarray:
    """[bands, n, n]: for each band, the matrix K with ``x @ K`` = the band-pass filter run causally from rest over
    an n-sample window, minus that output's mean (so the variance is a row's mean square). A causal IIR filter
    started from rest is linear in the window, and its first n outputs depend only on the first n samples of its
    impulse response, so this is exact, not an approximation."""
    from scipy.signal import butter, sosfilt

    out = []
    for lo, hi in bands:
        sos = butter(order, [lo / (fs / 2), min(hi, fs / 2 - 1) / (fs / 2)], btype="band", output="sos")
        h = sosfilt(sos, np.eye(1, n)[0])  # impulse response, first n samples
        idx = np.arange(n)
        lag = idx[None, :] - idx[:, None]  # output j takes input i with weight h[j - i]
        k = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)
        out.append(k - k.mean(axis=1, keepdims=True))
    return np.stack(out)


def band_de(windows: np.ndarray, fs: float = FS, bands=BANDS_HZ, order: int = 5) -> np.ndarray:
    """Differential entropy per band of each window, as torcheeg's ``BandDifferentialEntropy`` computes it:
    an order-5 Butterworth band-pass run causally over the window alone, then 0.5 * log(2 pi e var).
    [..., time] -> [..., bands]. Computed as one matrix product per band (see ``_band_kernels``), in float64."""
    n = windows.shape[-1]
    kernels = _band_kernels(n, fs, tuple(bands), order)
    flat = np.asarray(windows, dtype=np.float64).reshape(-1, n)
    out = np.empty((flat.shape[0], len(kernels)))
    step = 8192  # rows per product: bounds the temporary to 8192 x n doubles
    for b, k in enumerate(kernels):
        for i in range(0, flat.shape[0], step):
            y = flat[i:i + step] @ k
            out[i:i + step, b] = np.einsum("ij,ij->i", y, y) / n
    return (0.5 * np.log(2 * np.pi * np.e * out + 1e-12)).reshape(*windows.shape[:-1], len(kernels))


def _subject_inputs(s: int, cfg: RealisticConfig, profile: Profile, seed: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One subject's model inputs, labels and trial indices."""
    rec = simulate_subject(s, cfg, seed=seed)
    y_trial = (rec.ratings[:, 0] > 5).astype(np.int64)
    eeg = rec.eeg[:, :, int(BASELINE_S * FS):]
    n_tr = eeg.shape[0]
    kind = input_kind(profile)
    if kind == "band-grid":
        bands = int(profile.input.shape[0])
        win = int(FS)
        n_win = eeg.shape[-1] // win
        w = eeg[..., : n_win * win].reshape(n_tr, eeg.shape[1], n_win, win)
        de = band_de(w, FS, BANDS_HZ[:bands])  # trials, ch, windows, bands
        X = to_grid(de.transpose(0, 2, 1, 3), DEAP_CHANNELS, profile.input.grid or "deap")
        X = X.reshape(n_tr * n_win, bands, 9, 9)
    else:
        # raw windows z-scored per electrode within each trial (as deap: does); a time grid takes all 32
        # electrodes and puts each one's samples on its grid cell
        if kind == "time-grid":
            idx, T = list(range(len(DEAP_CHANNELS))), int(profile.input.shape[0])
        else:
            names = [x.upper() for x in DEAP_CHANNELS]
            idx, T = [names.index(x.upper()) for x in profile.input.electrodes], int(profile.input.shape[-1])
        n_win = eeg.shape[-1] // T
        sel = eeg[:, idx]
        mean = sel.mean(axis=-1, keepdims=True, dtype=np.float64)
        std = sel.std(axis=-1, keepdims=True, dtype=np.float64)
        X = sel[..., : n_win * T].reshape(n_tr, len(idx), n_win, T).transpose(0, 2, 1, 3)
        X = ((X - mean[:, None].astype(np.float32)) / (std[:, None] + 1e-8).astype(np.float32))
        if kind == "time-grid":
            X = to_grid(X, DEAP_CHANNELS, profile.input.grid or "deap").reshape(n_tr * n_win, T, 9, 9)
        else:
            X = np.ascontiguousarray(X, dtype=np.float32).reshape(n_tr * n_win, 1, len(idx), T)
    return X, np.repeat(y_trial, n_win), np.repeat(np.arange(n_tr), n_win)


def _features(cfg: RealisticConfig, profile: Profile, seed: int, workers: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every subject's inputs, written into one preallocated array as they arrive (no concatenated copy: a
    DEAP-sized raw set is over 1 GB). Subjects are independent and seeded alone, so 1 or N processes give the same
    arrays."""
    from contextlib import ExitStack

    subjects = range(cfg.subjects)
    with ExitStack() as stack:
        if workers > 1 and cfg.subjects > 1:
            from concurrent.futures import ProcessPoolExecutor

            pool = stack.enter_context(ProcessPoolExecutor(max_workers=min(workers, cfg.subjects)))
            parts = pool.map(_subject_inputs, subjects, [cfg] * cfg.subjects, [profile] * cfg.subjects,
                             [seed] * cfg.subjects)
        else:
            parts = (_subject_inputs(s, cfg, profile, seed) for s in subjects)
        X = y = g = t = None
        for s, (xs, ys, ts) in enumerate(parts):
            m = len(ys)
            if X is None:
                X = np.empty((cfg.subjects * m, *xs.shape[1:]), dtype=np.float32)
                y, g, t = (np.empty(cfg.subjects * m, dtype=np.int64) for _ in range(3))
            X[s * m:(s + 1) * m], y[s * m:(s + 1) * m] = xs, ys
            g[s * m:(s + 1) * m], t[s * m:(s + 1) * m] = s, s * 1000 + ts
    if input_kind(profile) == "band-grid":
        # z-score each occupied grid cell and band over the set, as the profile's preprocessing says
        mean, std = X.mean(axis=0, dtype=np.float64), X.std(axis=0, dtype=np.float64)
        occupied = std > 0
        X = np.where(occupied[None], (X - mean.astype(np.float32)) / (std + 1e-8).astype(np.float32), 0)
    return X.astype(np.float32, copy=False), y, g, t


def load_realistic(profile: Profile, cfg: RealisticConfig = RealisticConfig(), *, seed: int = 0,
                   cache: Path | str | None | bool = None, workers: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X, y, subject ids, trial ids for a DEAP profile, generated or read from the cache.

    Raw profiles get the profile's electrodes, the 3 s baseline dropped, non-overlapping windows z-scored per
    electrode within each trial (as ``deap:`` does); grid profiles get ``band_de`` of 1 s windows on the 9x9 grid,
    z-scored per cell and band; time-grid profiles (``time x 9 x 9``) get every electrode's raw window, z-scored
    per electrode within each trial, on its grid cell. ``cache``: a folder, None for ``cache_dir()``, False for none; a cached set is
    reused only when every setting that shapes it matches (the file name carries a hash of them). ``workers``:
    processes generating subjects in parallel (default: up to 2)."""
    _check_profile(profile)
    path = None
    if cache is not False:
        folder = Path(cache) if cache not in (None, True) else cache_dir()
        path = folder / "realistic" / f"{profile.name}-{_cache_key(cfg, profile, seed)}.npz"
        if path.exists():
            try:
                with np.load(path) as z:
                    return z["X"], z["y"], z["groups"], z["trials"]
            except (OSError, ValueError, KeyError, EOFError):
                pass  # a damaged cache file is rebuilt below
    arrays = _features(cfg, profile, seed, workers if workers is not None else min(2, os.cpu_count() or 1))
    if path is not None:
        from eegdeploy.io import atomic_path

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, X=arrays[0], y=arrays[1], groups=arrays[2], trials=arrays[3])
        except OSError as err:
            raise DataError(f"cannot write the synthetic:realistic cache {str(path.parent)!r} ({err.strerror})",
                            fix="set EEGDEPLOY_CACHE to a writable folder") from None
    return arrays
