// genarm::compiled: the transformer — weight kernels, checkpoint loading, the forward pass.
#include "genarm/model/transformer.hpp"
#include "genarm/model/lora_adapter-inl.hpp"
#include "genarm/model/transformer-inl.hpp"
#include "genarm/model/transformer_weights-inl.hpp"
#include "genarm/model/weight_matrix-inl.hpp"
