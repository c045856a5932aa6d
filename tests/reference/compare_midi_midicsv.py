#!/usr/bin/env python3
"""Files written by `cadenza midi convert` must read in Debian's midicsv
without error and hold the same notes as the original (also read by midicsv):
the multiset of (channel, pitch, velocity, start tick, end tick), note-ons
and note-offs paired first-in-first-out per track, channel and pitch. Checked
for format 1 output on every packaged MIDI file, and for format 0 output with
note-on and note-off events compared apart (merging tracks re-pairs notes of
one channel and pitch that overlap across tracks). Fails (never skips)
when midicsv or the corpora are missing.

Run: python3 compare_midi_midicsv.py --cadenza BIN --work DIR
"""
import argparse
import collections
import glob
import os
import shutil
import subprocess
import sys

CORPORA = ["/usr/share/games/openttd/baseset/openmsx", "/usr/share/planetblupi/music"]


def midicsv_notes(path):
    out = subprocess.run(["midicsv", path], capture_output=True)
    if out.returncode != 0 or out.stderr.strip():
        raise RuntimeError(f"midicsv {path} failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    events = []  # (track, order, tick, channel, pitch, velocity) of note events
    ends = {}  # track -> End_track tick
    for i, line in enumerate(out.stdout.decode("latin-1").splitlines()):
        f = [x.strip() for x in line.split(",")]
        if len(f) < 3:
            continue
        kind = f[2]
        if kind in ("Note_on_c", "Note_off_c"):
            vel = int(f[5]) if kind == "Note_on_c" else 0
            events.append((int(f[0]), i, int(f[1]), int(f[3]), int(f[4]), vel))
        elif kind == "End_track":
            ends[int(f[0])] = int(f[1])
    opened = collections.defaultdict(collections.deque)
    notes = []
    for track, _, tick, ch, pitch, vel in sorted(events):
        key = (track, ch, pitch)
        if vel > 0:
            opened[key].append((tick, vel))
        elif opened[key]:
            start, v = opened[key].popleft()
            notes.append((ch, pitch, v, start, tick))
    for (track, ch, pitch), q in opened.items():
        for start, v in q:  # still sounding at End_track: ends there, as cadenza reads it
            notes.append((ch, pitch, v, start, ends.get(track, start)))
    return sorted(notes)


def split_events(notes):
    ons = sorted((ch, pitch, vel, start) for ch, pitch, vel, start, _ in notes)
    offs = sorted((ch, pitch, end) for ch, pitch, _, _, end in notes)
    return ons, offs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cadenza", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    if not shutil.which("midicsv"):
        sys.exit("FAIL: midicsv is missing (apt-get install midicsv)")
    os.makedirs(args.work, exist_ok=True)
    files = []
    for d in CORPORA:
        found = sorted(glob.glob(os.path.join(d, "*.mid")))
        if not found:
            sys.exit(f"FAIL: no MIDI files in {d} (apt-get install openttd-openmsx planetblupi-music-midi)")
        files += found
    failures = []
    for path in files:
        ref = midicsv_notes(path)
        for fmt in ("1", "0"):
            out = os.path.join(args.work, f"f{fmt}_" + os.path.basename(path))
            run = subprocess.run([args.cadenza, "midi", "convert", path, out, "--format", fmt],
                                 capture_output=True, text=True)
            if run.returncode != 0:
                failures.append(f"{path}: cadenza midi convert --format {fmt} failed: {run.stderr.strip()}")
                continue
            got = midicsv_notes(out)
            if fmt == "0":
                # One track cannot keep two tracks' overlapping notes of one
                # channel and pitch paired as they were: compare the note-on
                # events and the note-off events apart.
                got, want = split_events(got), split_events(ref)
            else:
                want = ref
            if got != want:
                failures.append(f"{out}: notes differ from the original ({len(got)} vs {len(want)} entries)")
        print(f"{os.path.basename(path)}: {len(ref)} notes")
    if failures:
        print("\n".join(failures))
        sys.exit(f"FAIL: {len(failures)} files written by cadenza disagree with midicsv")
    print(f"OK: {len(files)} files x 2 formats written by cadenza read in midicsv with the same notes")


if __name__ == "__main__":
    main()
