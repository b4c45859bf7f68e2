// genarm::compiled: the tokenizer — tokenizer.json loading, normalizers, pre-tokenizers and their
// regex engine, BPE, decoders, comparing two tokenizers.
#include "genarm/tokenizer/tokenizer.hpp"
#include "genarm/tokenizer/tokenizer-inl.hpp"
#include "genarm/tokenizer/compare-inl.hpp"
