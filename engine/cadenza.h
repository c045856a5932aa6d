#pragma once
// The umbrella header: #include <cadenza/cadenza.h>
#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/file_io.h"
#include "engine/nn.h"
#include "engine/npy.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/png.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "engine/tensor.h"
#include "engine/threading.h"

#include "audio/audio.h"
#include "audio/audio_tensor.h"
#include "audio/dataset.h"
#include "midi/midi.h"
