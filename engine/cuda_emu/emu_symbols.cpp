// emu_symbols.cpp — finds a kernel's __shared__ arrays in the program's symbol table.
//
// In the emulated build a __shared__ array is a static local object of its kernel. The scheduler
// must know where each kernel's arrays are, to poison them before every block and to check their
// total size against the GPU's limit. The linker section that __shared__ also asks for collects
// them for ordinary kernels, but GCC drops section attributes on the static locals of template
// instantiations (ssim_tile_kernel<true>, block_reduce<false>, ...). Their symbols are always
// there: a static local `s` of the function with mangled name _Z<encoding> is named
// _ZZ<encoding>E1s. So: find the kernel's name from its address in /proc/self/exe's symbol table
// (.symtab, present unless the program is stripped), then every object named _ZZ<encoding>E...
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "emu_internal.h"

namespace cuda_emu::detail {
namespace {

struct SymbolTable {
  const Elf64_Sym* symbols = nullptr;
  size_t count = 0;
  const char* names = nullptr;
  uintptr_t bias = 0;  // where the program is loaded (position-independent executables)
};

int first_object(dl_phdr_info* info, size_t, void* out) {
  *static_cast<uintptr_t*>(out) = info->dlpi_addr;  // the program itself comes first
  return 1;
}

SymbolTable load_symbols() {
  SymbolTable t;
  int fd = ::open("/proc/self/exe", O_RDONLY);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) return t;
  void* image = ::mmap(nullptr, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);  // kept mapped
  ::close(fd);
  if (image == MAP_FAILED) return t;
  const char* base = static_cast<const char*>(image);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) return t;
  const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; ++i) {
    if (sections[i].sh_type != SHT_SYMTAB) continue;
    t.symbols = reinterpret_cast<const Elf64_Sym*>(base + sections[i].sh_offset);
    t.count = sections[i].sh_size / sizeof(Elf64_Sym);
    t.names = base + sections[sections[i].sh_link].sh_offset;
  }
  dl_iterate_phdr(first_object, &t.bias);
  if (!t.symbols)
    std::fprintf(stderr,
                 "cuda-emu: /proc/self/exe has no symbol table (stripped?): the __shared__ arrays of "
                 "template kernels are not poisoned and their size is not checked\n");
  return t;
}

const SymbolTable& symbols() {
  static const SymbolTable t = load_symbols();
  return t;
}

}  // namespace

const std::vector<StaticObject>& static_locals_of(const void* function) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  static std::map<const void*, std::vector<StaticObject>> cache;
  auto it = cache.find(function);
  if (it != cache.end()) return it->second;
  std::vector<StaticObject>& found = cache[function];
  const SymbolTable& t = symbols();
  std::vector<std::string> prefixes;  // one per name at this address (aliases are possible)
  for (size_t i = 0; i < t.count; ++i) {
    const Elf64_Sym& s = t.symbols[i];
    if (ELF64_ST_TYPE(s.st_info) != STT_FUNC || s.st_value + t.bias != (uintptr_t)function) continue;
    const char* name = t.names + s.st_name;
    if (std::strncmp(name, "_Z", 2) == 0)
      prefixes.push_back(std::string("_ZZ") + (name + 2) + "E");
    else
      prefixes.push_back("_ZZ" + std::to_string(std::strlen(name)) + name + "E");  // extern "C"
  }
  for (size_t i = 0; i < t.count && !prefixes.empty(); ++i) {
    const Elf64_Sym& s = t.symbols[i];
    if (ELF64_ST_TYPE(s.st_info) != STT_OBJECT || s.st_size == 0) continue;
    const char* name = t.names + s.st_name;
    for (const std::string& p : prefixes)
      if (std::strncmp(name, p.c_str(), p.size()) == 0) {
        found.push_back(StaticObject{reinterpret_cast<char*>(s.st_value + t.bias), (size_t)s.st_size});
        break;
      }
  }
  return found;
}

}  // namespace cuda_emu::detail
