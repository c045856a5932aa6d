#pragma once
// The umbrella header: #include <cadenza/cadenza.h>
//
// It lives above the floors (kernels -> engine -> midi, audio, models) and
// pulls in every floor's public API, so that no floor has to include a floor
// above it. Headers kept out of the installed package are listed in
// CADENZA_PRIVATE_HEADERS in the root CMakeLists.txt.
#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/distributed.h"
#include "engine/file_io.h"
#include "engine/nn.h"
#include "engine/npy.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/png.h"
#include "engine/random.h"
#include "engine/rnn.h"
#include "engine/stream.h"
#include "engine/tensor.h"
#include "engine/threading.h"

#include "audio/audio.h"
#include "audio/audio_tensor.h"
#include "audio/dataset.h"
#include "audio/spectrogram_image.h"
#include "midi/midi.h"

#include "models/decoder.h"
#include "models/poly_data.h"
#include "models/poly_model.h"
#include "models/poly_trainer.h"
#include "models/sequence_model.h"
#include "models/token_data.h"
#include "models/token_trainer.h"
#include "models/trainer.h"
#include "models/wavenet.h"
#include "models/wavenet_data.h"
#include "models/wavenet_generate.h"
#include "models/wavenet_trainer.h"
