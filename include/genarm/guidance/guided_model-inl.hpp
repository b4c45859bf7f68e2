// Out-of-line definitions of guided_model.hpp (see core/compiled.hpp).
#pragma once

#include <algorithm>
#include <optional>

#include "genarm/guidance/guided_model.hpp"

namespace genarm {

GENARM_INLINE GuidedModel GuidedModel::load(const std::filesystem::path& base_dir, const std::vector<std::filesystem::path>& arm_dirs) {
  // Tokenizers are compared before the (larger) weights are loaded. A LoRA adapter folder without
  // a tokenizer.json reads its base's.
  const Tokenizer base_tokenizer = Tokenizer::from_file(base_dir);
  std::vector<Tokenizer> arm_tokenizers;
  for (const auto& dir : arm_dirs) {
    const bool own = !model::is_adapter_folder(dir) || std::filesystem::exists(dir / "tokenizer.json");
    arm_tokenizers.push_back(own ? Tokenizer::from_file(dir) : base_tokenizer);
    check_tokenizer(base_tokenizer, base_dir.string(), arm_tokenizers.back(), dir.string());
  }
  const model::Transformer base = model::Transformer::load(base_dir);
  // An adapter of this base (its base_model_name_or_path is this folder, or no local folder)
  // shares the base's weights; an adapter of another local base is applied to that one.
  const auto same_folder = [](const std::filesystem::path& a, const std::filesystem::path& b) {
    std::error_code ec;
    return std::filesystem::equivalent(a, b, ec);
  };
  std::vector<Part> arms;
  for (size_t i = 0; i < arm_dirs.size(); ++i) {
    const auto& dir = arm_dirs[i];
    std::optional<std::filesystem::path> own_base;
    if (model::is_adapter_folder(dir)) own_base = model::adapter_base_folder(dir);
    model::Transformer arm = !model::is_adapter_folder(dir)           ? model::Transformer::load(dir)
                             : !own_base || same_folder(*own_base, base_dir) ? model::Transformer::load_adapter(dir, base)
                                                                      : model::Transformer::load(dir, *own_base);
    arms.push_back(Part{dir.string(), arm_tokenizers[i], std::move(arm)});
  }
  return assemble(Part{base_dir.string(), base_tokenizer, base}, std::move(arms));
}

GENARM_INLINE GuidedModel GuidedModel::assemble(Part base, std::vector<Part> arms) {
  std::vector<tokenizer::Comparison> comparisons;
  for (const auto& a : arms) comparisons.push_back(check_tokenizer(base.tokenizer, base.name, a.tokenizer, a.name));
  GuidedModel m(base.tokenizer, base.model);
  check_causal(m.base_, base.name);
  for (size_t i = 0; i < arms.size(); ++i) {
    check_causal(arms[i].model, arms[i].name);
    m.arms_.push_back(arms[i].model);
    m.arm_names_.push_back(arms[i].name);
    const tokenizer::Comparison& c = comparisons[i];
    m.arm_extra_tokens_.push_back(c.extra_tokens);
    const std::string accepted = tokenizer::describe_accepted(c);
    if (!accepted.empty()) m.notes_.push_back("ARM " + arms[i].name + ": " + accepted);
  }
  m.check_vocabulary(base.name);
  return m;
}

GENARM_INLINE std::vector<int32_t> GuidedModel::eos_token_ids() const {
  std::vector<int32_t> ids = base_.config().eos_token_ids;
  if (ids.empty()) {
    for (const char* name : {"</s>", "<|endoftext|>", "<|eot_id|>", "<|im_end|>", "<eos>", "<|end|>"}) {
      if (auto id = tokenizer_.token_to_id(name)) ids.push_back(*id);
    }
  }
  return ids;
}

GENARM_INLINE GuidedPolicy<TransformerSource> GuidedModel::new_policy(const Guidance& guidance, ThreadPool* pool, Parallelism parallelism) const {
  const bool across = pool != nullptr && pool->size() > 1 && !arms_.empty() &&
                      (parallelism == Parallelism::kAcrossModels ||
                       (parallelism == Parallelism::kAuto && balanced_for_across()));
  ThreadPool* within = across ? nullptr : pool;
  TransformerSource base(base_);
  base.set_thread_pool(within);
  std::vector<TransformerSource> guides;
  guides.reserve(arms_.size());
  for (const auto& arm : arms_) {
    guides.emplace_back(arm);
    guides.back().set_thread_pool(within);
  }
  GuidedPolicy<TransformerSource> policy(std::move(base), std::move(guides), vocab_size(), guidance);
  if (across) policy.set_source_parallelism(pool);
  return policy;
}

GENARM_INLINE bool GuidedModel::balanced_for_across() const {
  size_t total = base_.weights().weight_bytes, largest = total;
  for (const auto& a : arms_) {
    total += a.weights().weight_bytes;
    largest = std::max(largest, a.weights().weight_bytes);
  }
  return static_cast<double>(largest) <= 0.6 * static_cast<double>(total);
}

GENARM_INLINE GuidedModel::GuidedModel(Tokenizer tokenizer, model::Transformer base) : tokenizer_(std::move(tokenizer)), base_(std::move(base)) {}

GENARM_INLINE tokenizer::Comparison GuidedModel::check_tokenizer(const Tokenizer& base, const std::string& base_name, const Tokenizer& arm, const std::string& arm_name) {
  tokenizer::Comparison c = base.compare(arm, "the base", "the ARM");
  if (!c.compatible()) {
    fail(ErrorCategory::kInvalidArgument, "the tokenizer of ARM ", arm_name, " differs from the base model's (",
         base_name, "): ", c.difference, ": GenARM needs base and ARMs to share one tokenizer");
  }
  return c;
}

GENARM_INLINE void GuidedModel::check_causal(const model::Transformer& m, const std::string& name) {
  if (m.is_reward_model()) {
    fail(ErrorCategory::kInvalidArgument, name, " is a ", m.config().architecture,
         " (a trajectory reward model); the base and ARMs must be causal LMs");
  }
}

GENARM_INLINE void GuidedModel::check_vocabulary(const std::string& base_name) const {
  if (static_cast<size_t>(base_.vocab_size()) < vocab_size()) {
    fail(ErrorCategory::kInvalidArgument, base_name, ": vocab_size ", base_.vocab_size(),
         " is smaller than its tokenizer's ", vocab_size(), " tokens");
  }
  for (size_t i = 0; i < arms_.size(); ++i) {
    if (static_cast<size_t>(arms_[i].vocab_size()) < vocab_size()) {
      fail(ErrorCategory::kInvalidArgument, "ARM ", arm_names_[i], ": its vocabulary is smaller than the base's: ",
           arms_[i].vocab_size(), " logit rows (vocab_size) for the base tokenizer's ", vocab_size(), " tokens");
    }
  }
}

}  // namespace genarm
