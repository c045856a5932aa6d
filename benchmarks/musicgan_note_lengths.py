#!/usr/bin/env python3
"""Note lengths of the chorales' piano rolls and of generated ones, per track.

QN (MuseGAN's qualified notes: at least 3 steps) cannot tell a generator
whose notes last a 16th from one whose notes last a quarter once every note
is at least a 16th (3 steps at 48 per bar). This prints what QN hides: the
mean note length in 16ths and the share of notes at least an eighth and at
least a quarter long, for the data and for samples.

    musicgan_note_lengths.py --midi DIR --npy SAMPLES.npy [--steps-per-bar 48]

The data's MIDI files (4/4 only, tracks in file order after the conductor
track) are rolled at --steps-per-bar like cadenza's loader does, so a
repeated pitch merges into one held note in both, as piano rolls have it.
SAMPLES.npy is `cadenza sample musicgan --npy`: [N, tracks, bars, steps, pitches].
"""
import argparse
import glob
import os

import numpy as np


def runs(roll):
    """Lengths (in steps) of every run of sounding steps, per pitch: roll [T, P] of 0/1."""
    out = []
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll > 0
    d = np.diff(padded, axis=0)
    for p in range(roll.shape[1]):
        starts = np.flatnonzero(d[:, p] == 1)
        ends = np.flatnonzero(d[:, p] == -1)
        out.extend((ends - starts).tolist())
    return out


def midi_rolls(folder, steps_per_bar):
    import mido  # python3-mido

    per_beat = steps_per_bar // 4
    tracks = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.mid"))):
        mf = mido.MidiFile(path)
        sigs = [(m.numerator, m.denominator) for t in mf.tracks for m in t if m.type == "time_signature"]
        if any(s != (4, 4) for s in sigs):
            continue
        notes = [t for t in mf.tracks if any(m.type == "note_on" for m in t)]
        for k, track in enumerate(notes):
            events, now, on = [], 0, {}
            for m in track:
                now += m.time
                if m.type == "note_on" and m.velocity > 0:
                    on[m.note] = now
                elif m.type in ("note_off", "note_on") and m.note in on:
                    events.append((on.pop(m.note), now, m.note))
            if not events:
                continue
            end = max(e for _, e, _ in events)
            roll = np.zeros((int(round(end / mf.ticks_per_beat * per_beat)) + 1, 128), dtype=np.int8)
            for s, e, n in events:
                a = int(round(s / mf.ticks_per_beat * per_beat))
                b = int(round(e / mf.ticks_per_beat * per_beat))
                roll[a:b, n] = 1
            tracks.setdefault(k, []).extend(runs(roll))
    return [tracks[k] for k in sorted(tracks)]


def sample_runs(path):
    y = np.load(path)  # [N, tracks, bars, steps, pitches]
    n, t, bars, steps, p = y.shape
    out = []
    for k in range(t):
        lengths = []
        for i in range(n):
            lengths.extend(runs(y[i, k].reshape(bars * steps, p)))
        out.append(lengths)
    return out, steps


def summary(lengths, per16):
    x = np.asarray(lengths, dtype=np.float64) / per16
    if x.size == 0:
        return "no notes"
    return "%6d notes  mean %5.2f 16ths  >= 8th %5.1f%%  >= quarter %5.1f%%" % (
        x.size, x.mean(), 100 * (x >= 2).mean(), 100 * (x >= 4).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--midi", required=True)
    ap.add_argument("--npy", required=True)
    ap.add_argument("--steps-per-bar", type=int, default=48)
    ap.add_argument("--names", default="Soprano,Alto,Tenor,Bass")
    a = ap.parse_args()
    per16 = a.steps_per_bar / 16
    data = midi_rolls(a.midi, a.steps_per_bar)
    gen, steps = sample_runs(a.npy)
    if steps != a.steps_per_bar:
        raise SystemExit("the samples have %d steps per bar, not %d" % (steps, a.steps_per_bar))
    names = a.names.split(",")
    for k in range(len(gen)):
        name = names[k] if k < len(names) else "track %d" % k
        print("%-8s data    %s" % (name, summary(data[k] if k < len(data) else [], per16)))
        print("%-8s samples %s" % ("", summary(gen[k], per16)))


if __name__ == "__main__":
    main()
