// Which of a sandbox's changes a diff or a commit acts on: the named workspace paths and
// everything below them ("/src" selects "/src" and "/src/a.c", never "/srcx"); naming
// nothing selects every change. The one rule behind the server's diff and commit, the
// fs process's control requests and `agentfense run --changes apply` (which commits
// everything); list_changes (changes.h) applies it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentfense::layer {

// A path naming changes as the API and the control socket carry it (path_to_wire text,
// relative or absolute), decoded and normalized: "src/a/" -> "/src/a". Throws UserError
// "bad path '<text>': why" for a malformed quoted path, a NUL byte or a ".." segment.
std::string selection_path_from_wire(std::string_view text);

class ChangeSelection {
 public:
  ChangeSelection() = default;  // every change
  // `paths`: normalized workspace paths (selection_path_from_wire). Implicit, so that a
  // list of paths reads as what it selects. Kept sorted and without repeats.
  ChangeSelection(std::vector<std::string> paths);

  bool everything() const { return paths_.empty(); }
  const std::vector<std::string>& paths() const { return paths_; }
  // Looks up `path` and each of its parents: a time of the path's depth, not of the
  // number of paths named (matching each against each took 37 s for 20,000 changes and
  // 200,000 named paths, with the layer locked).
  bool selects(std::string_view path) const;

 private:
  std::vector<std::string> paths_;
};

}  // namespace agentfense::layer
