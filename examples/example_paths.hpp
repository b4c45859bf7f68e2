// Where the examples find the bundled toy models: argv[1] if given, else the source tree's models/.
#pragma once

#include <filesystem>
#include <string>

inline std::filesystem::path models_dir(int argc, char** argv) {
  if (argc > 1) return argv[1];
  return GENARM_EXAMPLE_MODELS;
}
