#!/usr/bin/env python3
"""Writes the Bach chorales of music21's corpus as MIDI files, MusicGAN's default corpus.

usage: prepare_bach_chorales.py OUT_DIR [--limit N] [--program P]

One format-1 file per chorale: track 0 holds the tempo, time- and
key-signature maps; tracks 1..4 are Soprano, Alto, Tenor and Bass (in that
order, channels 0..3, one General MIDI program). A chorale whose parts are not
exactly those four voices is skipped and counted. A pickup bar is padded with
rests to a whole bar, so that bar lines fall where the engine's bar grid
(bars from tick 0 through the time-signature map) expects them.

The files are written into a temporary folder beside OUT_DIR, which is renamed
into place only when every chorale is done, with a `.complete` marker inside:
an interrupted run leaves no OUT_DIR, and a complete OUT_DIR is left alone.
"""
import argparse
import os
import shutil
import struct
import sys
import time

VOICES = ["Soprano", "Alto", "Tenor", "Bass"]
TPQ = 480
DEFAULT_US_PER_QUARTER = 600000  # 100 bpm: the scores carry no tempo marks


def varlen(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(events):
    """events: (tick, order, bytes) -> an MTrk chunk; order breaks ties at one tick."""
    body = bytearray()
    last = 0
    for tick, _, data in sorted(events, key=lambda e: (e[0], e[1])):
        body += varlen(tick - last) + data
        last = tick
    end = max([e[0] for e in events], default=0)
    body += varlen(end - last) + b"\xff\x2f\x00"
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def meta(kind, payload):
    return bytes([0xFF, kind]) + varlen(len(payload)) + payload


def ticks(quarters):
    return int(round(float(quarters) * TPQ))


def convert(score, program):
    """A music21 score -> SMF bytes, or (None, reason) when it is not an SATB chorale."""
    from music21 import key, meter, tempo

    parts = list(score.parts)
    names = [(p.partName or "").strip() for p in parts]
    if names != VOICES:
        return None, "parts are " + (", ".join(names) or "unnamed")
    measures = parts[0].getElementsByClass("Measure")
    shift = float(measures[0].paddingLeft) if len(measures) else 0.0  # pad a pickup to a whole bar
    flat = parts[0].flatten()

    conductor = [(0, 0, meta(0x03, b"Bach chorale"))]
    marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
    us = DEFAULT_US_PER_QUARTER
    if marks and marks[0].getQuarterBPM():
        us = int(round(60e6 / marks[0].getQuarterBPM()))
    conductor.append((0, 1, meta(0x51, us.to_bytes(3, "big"))))
    seen_ts = set()
    for ts in flat.getElementsByClass(meter.TimeSignature):
        t = 0 if ts.offset == 0 else ticks(ts.offset + shift)
        if t in seen_ts:
            continue
        seen_ts.add(t)
        den = ts.denominator
        conductor.append((t, 2, meta(0x58, bytes([ts.numerator, den.bit_length() - 1, 24, 8]))))
    if not seen_ts:
        return None, "no time signature"
    for ks in flat.getElementsByClass(key.KeySignature):
        t = 0 if ks.offset == 0 else ticks(ks.offset + shift)
        minor = 1 if getattr(ks, "mode", "major") == "minor" else 0
        conductor.append((t, 3, meta(0x59, bytes([ks.sharps & 0xFF, minor]))))
        break  # one key per chorale is what the scores mean

    tracks = [chunk(conductor)]
    for ch, (name, part) in enumerate(zip(VOICES, parts)):
        ev = [(0, 0, meta(0x03, name.encode())), (0, 1, bytes([0xC0 | ch, program]))]
        for n in part.stripTies().flatten().notes:
            if float(n.quarterLength) <= 0:
                continue  # grace notes
            on, off = ticks(n.offset + shift), ticks(n.offset + shift + n.quarterLength)
            if off <= on:
                continue
            for p in n.pitches:
                ev.append((off, 2, bytes([0x80 | ch, p.midi, 0])))
                ev.append((on, 3, bytes([0x90 | ch, p.midi, 80])))
        tracks.append(chunk(ev))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), TPQ)
    return header + b"".join(tracks), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--limit", type=int, default=0, help="stop after N chorales (0: all)")
    ap.add_argument("--program", type=int, default=52, help="General MIDI program (52: Choir Aahs)")
    a = ap.parse_args()
    out = os.path.abspath(a.out_dir)
    marker = os.path.join(out, ".complete")
    if os.path.exists(marker):
        with open(marker) as f:
            print(f"{out}: already complete ({f.read().strip()}); nothing to do")
        return 0
    if os.path.exists(out):
        if os.path.isdir(out) and not os.listdir(out):
            os.rmdir(out)
        else:
            print(f"{out} exists but has no .complete marker: not written by this script; "
                  "move it away or choose another folder", file=sys.stderr)
            return 1
    try:
        from music21 import corpus
    except ImportError:
        print("music21 is missing: python3 -m pip install music21 (or run prepare_bach_chorales.sh)",
              file=sys.stderr)
        return 1

    start = time.time()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    written, skipped, failed, meters = 0, {}, 0, {}
    stems = set()
    try:
        for path in sorted(corpus.getComposer("bach"), key=lambda p: p.name):
            if a.limit and written >= a.limit:
                break
            if path.suffix not in (".mxl", ".xml", ".krn"):
                continue  # .rntxt files are Roman-numeral analyses, not scores
            stem = path.name.split(".mxl")[0].split(".xml")[0].split(".krn")[0]
            if stem in stems:
                continue  # the same chorale in two formats
            try:
                score = corpus.parse(path)
                data, why = convert(score, a.program)
            except Exception as e:  # music21 raises many kinds on odd scores
                failed += 1
                print(f"  {path.name}: not converted ({type(e).__name__}: {e})", file=sys.stderr)
                continue
            if data is None:
                skipped[why] = skipped.get(why, 0) + 1
                continue
            stems.add(stem)
            with open(os.path.join(tmp, stem + ".mid"), "wb") as f:
                f.write(data)
            ts = score.parts[0].flatten().getElementsByClass("TimeSignature")
            sig = ts[0].ratioString if len(ts) else "?"
            meters[sig] = meters.get(sig, 0) + 1
            written += 1
        if written == 0:
            raise RuntimeError("no chorale was converted")
        note = f"{written} chorales" + (f", limit {a.limit}" if a.limit else "")
        with open(os.path.join(tmp, ".complete"), "w") as f:
            f.write(note + "\n")
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    nskip = sum(skipped.values())
    print(f"{out}: {written} chorales written in {time.time() - start:.0f} s; "
          f"first meters: " + ", ".join(f"{k} {v}" for k, v in sorted(meters.items(), key=lambda kv: -kv[1])))
    print(f"skipped {nskip} scores without exactly the voices {', '.join(VOICES)}; {failed} failed to parse")
    for why, n in sorted(skipped.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {n:4d}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
