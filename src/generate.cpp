// genarm::compiled: the decoding loop over the built-in policies, and the batch engine.
#include "genarm/generate/batch_generator.hpp"
#include "genarm/generate/batch_generator-inl.hpp"
#include "genarm/generate/generator.hpp"
#include "genarm/guidance/args_policy.hpp"
#include "genarm/guidance/guided_policy.hpp"
#include "genarm/guidance/transformer_source.hpp"

namespace genarm {

#define GENARM_INSTANTIATE_GENERATE(Policy)                                                            \
  template GenerationResult generate<Policy>(Policy&, sampling::Sampler&, const Tokenizer&, const Prompts&, \
                                             const GenerationConfig&, const StreamCallback&);          \
  template GenerationResult generate_started<Policy>(Policy&, sampling::Sampler&, const Tokenizer&,    \
                                                     const Prompts&, const GenerationConfig&,          \
                                                     const StreamCallback&)
GENARM_INSTANTIATE_GENERATE(GuidedPolicy<TransformerSource>);
GENARM_INSTANTIATE_GENERATE(ArgsPolicy<TransformerSource>);
#undef GENARM_INSTANTIATE_GENERATE

}  // namespace genarm
