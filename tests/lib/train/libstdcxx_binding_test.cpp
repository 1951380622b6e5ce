// Which library ftune's calls into the C++ standard library land in. PyTorch wheels export copies
// of std::filesystem functions (statically linked from a newer GCC's libstdc++) from libtorch.so;
// if ftune's calls bind to those, remove_all() of a non-empty folder jumps to the weak
// `recursive_directory_iterator::__erase`, which an older system libstdc++ lacks: a call through
// a null pointer (the crash at the second "new best" on LibTorch 2.x). The build puts
// libstdc++.so first among the executables' libraries (CMakeLists.txt) so that it wins.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

std::string library_defining(const void* function) {
  Dl_info info{};
  if (::dladdr(function, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return info.dli_fname;
}

TEST(LibstdcxxBinding, FilesystemCallsBindToTheSystemLibstdcxx) {
  using RemoveAll = std::uintmax_t (*)(const fs::path&);
  using Rename = void (*)(const fs::path&, const fs::path&);
  const auto remove_all = static_cast<RemoveAll>(&fs::remove_all);
  const auto rename = static_cast<Rename>(&fs::rename);
  EXPECT_NE(library_defining(reinterpret_cast<const void*>(remove_all)).find("libstdc++"),
            std::string::npos)
      << "std::filesystem::remove_all comes from "
      << library_defining(reinterpret_cast<const void*>(remove_all));
  EXPECT_NE(library_defining(reinterpret_cast<const void*>(rename)).find("libstdc++"),
            std::string::npos)
      << "std::filesystem::rename comes from "
      << library_defining(reinterpret_cast<const void*>(rename));
}

TEST(LibstdcxxBinding, RemoveAllDeletesANonEmptyNestedFolder) {
  const fs::path root =
      fs::temp_directory_path() / ("ftune_remove_all_" + std::to_string(::getpid()));
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "file") << "x";
  std::ofstream(root / "a" / "file") << "y";
  EXPECT_EQ(fs::remove_all(root), 5u);  // root, a, a/b and two files
  EXPECT_FALSE(fs::exists(root));
}

}  // namespace
