#!/usr/bin/env python3
"""Golden files for tests/audio: librosa's STFT / ISTFT / mel / log-mel / MFCC /
trim, and torchaudio's mu-law, on small deterministic signals.

    python3 -m pip install librosa      # PyPI; the goldens record the version
    python3 tests/reference/make_audio_librosa_goldens.py

Writes float32 / int32 .npy files and meta.json into tests/golden/audio/.
CI does not run this; the outputs are committed.

Signals are float32 (what cadenza computes on) and are upcast to float64
before librosa sees them, so librosa's numbers are float64-exact and the C++
side (FFTW in double) is compared against a truth free of float32 FFT noise.
"""
import json
import os
import sys

import numpy as np
import librosa
import scipy

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "audio")


def save(name, arr, dtype=np.float32):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(arr, dtype=dtype))


def signal(sr, seconds, seed):
    """A chirp, two tones, a click and a little noise: energy in every band."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    t = np.arange(n) / sr
    f0, f1 = 60.0, sr * 0.45
    chirp = np.sin(2 * np.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t ** 2))
    y = 0.4 * chirp + 0.2 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 3001.0 * t)
    y[n // 3] += 0.3
    y += 0.01 * rng.standard_normal(n)
    return y.astype(np.float32)


# torchaudio.functional.mu_law_encoding / mu_law_decoding, line for line
# (torchaudio/functional/functional.py), in float32 as torch evaluates them.
def mu_law_encoding(x, quantization_channels):
    mu = np.float32(quantization_channels - 1.0)
    x = x.astype(np.float32)
    x_mu = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    x_mu = ((x_mu + 1) / 2 * mu + 0.5).astype(np.int64)  # .to(torch.int64) truncates
    return x_mu


def mu_law_decoding(x_mu, quantization_channels):
    mu = np.float32(quantization_channels - 1.0)
    x_mu = x_mu.astype(np.float32)
    x = ((x_mu) / mu) * 2 - 1.0
    x = np.sign(x) * (np.exp(np.abs(x) * np.log1p(mu)) - 1.0) / mu
    return x.astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"librosa": librosa.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "python": sys.version.split()[0]}

    # ---- case A: librosa defaults at 22050 Hz -------------------------------
    y = signal(22050, 0.5, seed=1)
    save("sig22k", y)
    yd = y.astype(np.float64)
    S = librosa.stft(yd)  # n_fft 2048, hop 512, hann, center, pad_mode 'constant'
    save("a_stft", np.stack([S.real, S.imag]))
    mel = librosa.feature.melspectrogram(y=yd, sr=22050)
    save("a_mel", mel)
    save("a_logmel", librosa.power_to_db(mel))
    save("a_logmel_refmax", librosa.power_to_db(mel, ref=np.max))
    save("a_mfcc", librosa.feature.mfcc(y=yd, sr=22050))

    # ---- case B: speech-style front end at 16 kHz, HTK mel, no norm ---------
    y16 = signal(16000, 0.5, seed=2)
    save("sig16k", y16)
    yd = y16.astype(np.float64)
    kw = dict(n_fft=512, hop_length=160, win_length=400)
    save("b_mag", np.abs(librosa.stft(yd, **kw)))
    melkw = dict(n_mels=40, fmin=20.0, fmax=7600.0, htk=True, norm=None)
    mel = librosa.feature.melspectrogram(y=yd, sr=16000, **kw, **melkw)
    save("b_mel", mel)
    # From S: mfcc(y=..., norm=None) would take `norm` as the DCT's norm.
    save("b_mfcc", librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=13))
    save("b_filters_htk", librosa.filters.mel(sr=16000, n_fft=512, **melkw))
    save("b_filters_slaney", librosa.filters.mel(sr=16000, n_fft=512, n_mels=40))

    # ---- case C: reflect padding (librosa < 0.10's default), magnitude ------
    save("c_mag_reflect", np.abs(librosa.stft(yd, n_fft=256, hop_length=64, pad_mode="reflect")))

    # ---- case D: istft of an arbitrary (inconsistent) spectrum --------------
    rng = np.random.default_rng(3)
    D = (rng.standard_normal((129, 20)) + 1j * rng.standard_normal((129, 20))).astype(np.complex64)
    save("d_spec", np.stack([D.real, D.imag]))
    Dd = D.astype(np.complex128)
    save("d_istft", librosa.istft(Dd, n_fft=256, hop_length=64))
    save("d_istft_len1000", librosa.istft(Dd, n_fft=256, hop_length=64, length=1000))

    # ---- trim: silence, a tone, silence --------------------------------------
    sr = 8000
    t = np.arange(sr // 2) / sr
    z = np.zeros(3 * sr // 2, dtype=np.float32)
    z[sr // 2:sr] = (0.5 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    z += (1e-4 * rng.standard_normal(z.size)).astype(np.float32)
    save("trim_sig", z)
    _, idx60 = librosa.effects.trim(z.astype(np.float64), top_db=60)
    _, idx30 = librosa.effects.trim(z.astype(np.float64), top_db=30, frame_length=1024,
                                    hop_length=256)
    save("trim_idx", np.array([idx60[0], idx60[1], idx30[0], idx30[1]]), np.int32)

    # ---- mu-law (torchaudio formulas) ----------------------------------------
    x = np.concatenate([np.linspace(-1, 1, 2001), rng.uniform(-1, 1, 2000),
                        [0.0, 1e-8, -1e-8, 1.0, -1.0, 0.5, -0.5]]).astype(np.float32)
    save("mulaw_x", x)
    save("mulaw_enc", mu_law_encoding(x, 256), np.int32)
    save("mulaw_dec", mu_law_decoding(np.arange(256), 256))

    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes) with librosa {librosa.__version__}")


if __name__ == "__main__":
    main()
