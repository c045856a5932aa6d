#!/usr/bin/env python3
"""Checks that the PyPI tensorboard package reads cadenza's event files.

    python3 tests/reference/check_tensorboard.py LOGDIR [EXPECTED_TSV]

LOGDIR holds events.out.tfevents.* files written by cadenza::SummaryWriter
(tests/engine_tools/write_tb_sample does this for ctest); EXPECTED_TSV
(default LOGDIR/expected.tsv) lists what was written, one
"tag<TAB>step<TAB>value<TAB>wall_time" per line. Every tag, step, value
(float32 tolerance: TensorBoard stores simple_value as float) and wall time
must come back. Exits 1 on a mismatch, 77 (ctest's skip code) when tensorboard
is not installed.
"""
import math
import os
import struct
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    import tensorboard
except ImportError as e:
    print(f"check_tensorboard: tensorboard is not installed ({e}); "
          "install it with: python3 -m pip install tensorboard", file=sys.stderr)
    sys.exit(77)


def as_float32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def decode_png_rgb(png, width, height):
    """Rows of (r, g, b) of an 8-bit RGB PNG without filters (what cadenza writes)."""
    import zlib
    pos, idat = 8, b""
    while pos < len(png):
        n = struct.unpack(">I", png[pos:pos + 4])[0]
        if png[pos + 4:pos + 8] == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    return [[tuple(raw[y * stride + 1 + 3 * x:y * stride + 4 + 3 * x]) for x in range(width)]
            for y in range(height)]


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    logdir = sys.argv[1]
    expected_path = sys.argv[2] if len(sys.argv) == 3 else os.path.join(logdir, "expected.tsv")
    expected = {}
    with open(expected_path) as f:
        for line in f:
            if not line.strip():
                continue
            tag, step, value, wall = line.rstrip("\n").split("\t")
            expected.setdefault(tag, []).append((int(step), float(value), float(wall)))

    files = sorted(p for p in os.listdir(logdir) if "tfevents" in p)
    if not files:
        print(f"check_tensorboard: no event files in {logdir}", file=sys.stderr)
        return 1
    # size_guidance 0 keeps every event instead of TensorBoard's reservoir sample.
    acc = EventAccumulator(logdir, size_guidance={"scalars": 0, "audio": 0, "images": 0})
    acc.Reload()

    errors = []
    tags = sorted(acc.Tags()["scalars"])
    if tags != sorted(expected):
        errors.append(f"scalar tags {tags}, expected {sorted(expected)}")
    for tag, want in sorted(expected.items()):
        if tag not in tags:
            continue
        got = acc.Scalars(tag)
        if len(got) != len(want):
            errors.append(f"{tag}: {len(got)} events, expected {len(want)}")
            continue
        for ev, (step, value, wall) in zip(got, want):
            if ev.step != step:
                errors.append(f"{tag}: step {ev.step}, expected {step}")
            elif not math.isclose(ev.value, as_float32(value), rel_tol=1e-6, abs_tol=1e-30):
                errors.append(f"{tag} step {step}: value {ev.value!r}, expected {value!r}")
            elif ev.wall_time != wall:
                errors.append(f"{tag} step {step}: wall_time {ev.wall_time!r}, expected {wall!r}")
    # The audio clip of write_tb_sample: a 440 Hz tone, 16 kHz, 1600 samples, as 16-bit WAV.
    if "audio" in acc.Tags() and "audio/tone" in acc.Tags()["audio"]:
        import io
        import wave
        ev = acc.Audio("audio/tone")[0]
        with wave.open(io.BytesIO(ev.encoded_audio_string)) as w:
            pcm = struct.unpack("<%dh" % w.getnframes(), w.readframes(w.getnframes()))
            rate = w.getframerate()
        want = [round(0.5 * math.sin(2 * math.pi * 440.0 * i / 16000.0) * 32767) for i in range(1600)]
        if ev.step != 7 or rate != 16000 or ev.sample_rate != 16000 or ev.length_frames != 1600:
            errors.append(f"audio/tone: step {ev.step}, rate {rate}/{ev.sample_rate}, frames {ev.length_frames}")
        elif max(abs(a - b) for a, b in zip(pcm, want)) > 1 or len(pcm) != 1600:
            errors.append("audio/tone: the decoded samples differ from the tone written")
    else:
        errors.append(f"no audio/tone clip; audio tags: {acc.Tags().get('audio')}")
    # The picture of write_tb_sample: 5x3 PNG, red left column, a green pixel at (2, 1).
    if "images" in acc.Tags() and "images/test" in acc.Tags()["images"]:
        ev = acc.Images("images/test")[0]
        png = ev.encoded_image_string
        if ev.step != 9 or ev.width != 5 or ev.height != 3 or not png.startswith(b"\x89PNG"):
            errors.append(f"images/test: step {ev.step}, {ev.width}x{ev.height}")
        else:
            rgb = decode_png_rgb(png, 5, 3)
            if rgb[0][0] != (255, 0, 0) or rgb[1][2] != (0, 255, 0) or rgb[2][4] != (255, 255, 255):
                errors.append("images/test: the decoded pixels differ from the picture written")
    else:
        errors.append(f"no images/test picture; image tags: {acc.Tags().get('images')}")
    for e in errors[:20]:
        print("check_tensorboard: " + e, file=sys.stderr)
    if errors:
        print(f"check_tensorboard: FAILED, {len(errors)} mismatches", file=sys.stderr)
        return 1
    n = sum(len(v) for v in expected.values())
    print(f"check_tensorboard: tensorboard {tensorboard.__version__} read {n} scalars "
          f"({len(tags)} tags) the audio clip and the picture from {len(files)} event files in {logdir}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
