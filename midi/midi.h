#pragma once
// cadenza's MIDI floor, in one include: the Standard MIDI File reader and
// writer (smf.h), the score model and tempo map (score.h), event tokenizers
// (tokens.h), piano rolls (pianoroll.h, pianoroll_tensor.h), datasets
// (dataset.h) and FluidSynth rendering (render.h).
#include "midi/dataset.h"
#include "midi/pianoroll.h"
#include "midi/pianoroll_tensor.h"
#include "midi/render.h"
#include "midi/roll_image.h"
#include "midi/score.h"
#include "midi/smf.h"
#include "midi/tokens.h"
