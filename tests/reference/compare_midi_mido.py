#!/usr/bin/env python3
"""Checks `cadenza midi info` against Debian's python3-mido on every packaged
MIDI file (openttd-openmsx, planetblupi-music-midi): the note count (note-ons
with velocity > 0) and the duration in seconds must agree. Also checks that
`cadenza midi convert` output reads in mido with the same note count and
duration. Fails (never skips) when mido or the corpora are missing, since
scripts/test.sh installs them.

Run with Debian's python: /usr/bin/python3 compare_midi_mido.py --cadenza BIN --work DIR
"""
import argparse
import glob
import json
import os
import subprocess
import sys

CORPORA = ["/usr/share/games/openttd/baseset/openmsx", "/usr/share/planetblupi/music"]


def corpus_files():
    files = []
    for d in CORPORA:
        found = sorted(glob.glob(os.path.join(d, "*.mid")))
        if not found:
            sys.exit(f"FAIL: no MIDI files in {d} (apt-get install openttd-openmsx planetblupi-music-midi)")
        files += found
    return files


def mido_facts(mido, path):
    m = mido.MidiFile(path)
    notes = sum(1 for t in m.tracks for msg in t if msg.type == "note_on" and msg.velocity > 0)
    return notes, m.length


def cadenza_json(binary, *args):
    out = subprocess.run([binary, "midi", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"cadenza midi {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cadenza", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-6, help="seconds")
    args = ap.parse_args()
    try:
        import mido
    except ImportError:
        sys.exit("FAIL: mido is missing (apt-get install python3-mido; run with /usr/bin/python3)")
    os.makedirs(args.work, exist_ok=True)
    failures = []
    files = corpus_files()
    for path in files:
        n_ref, len_ref = mido_facts(mido, path)
        info = cadenza_json(args.cadenza, "info", path)
        if info["notes"] != n_ref:
            failures.append(f"{path}: cadenza counts {info['notes']} notes, mido {n_ref}")
        if abs(info["duration"] - len_ref) > args.tolerance:
            failures.append(f"{path}: cadenza duration {info['duration']:.9f} s, mido {len_ref:.9f} s")
        out = os.path.join(args.work, os.path.basename(path))
        cadenza_json(args.cadenza, "convert", path, out)
        n_out, len_out = mido_facts(mido, out)
        if n_out != n_ref or abs(len_out - len_ref) > args.tolerance:
            failures.append(f"{out}: mido reads {n_out} notes / {len_out:.9f} s from cadenza's rewrite, "
                            f"expected {n_ref} / {len_ref:.9f}")
        print(f"{os.path.basename(path)}: {n_ref} notes, {len_ref:.3f} s")
    if failures:
        print("\n".join(failures))
        sys.exit(f"FAIL: {len(failures)} disagreements with mido over {len(files)} files")
    print(f"OK: {len(files)} files agree with mido {mido.__version__} on note count and duration")


if __name__ == "__main__":
    main()
