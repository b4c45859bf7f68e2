// genarm::compiled: GuidedModel and the policies over the built-in TransformerSource.
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_model.hpp"
#include "genarm/guidance/guided_model-inl.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/transformer_source.hpp"

namespace genarm {

template class GuidedPolicy<TransformerSource>;
template class ArgsPolicy<TransformerSource>;

}  // namespace genarm
