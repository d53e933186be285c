// An image's VOLUMEs must not become host directories. dockerd makes each path the image
// declares (Config.Volumes) an anonymous volume: a writable directory under its data
// root, outside the sandbox's disk quota and its read-only root. So each one is covered by
// a tmpfs of the container's (container_config.h), which dockerd counts as a mount for that
// path and makes no volume for; the container's mounts are checked after create all the
// same (an image retagged meanwhile, a path dockerd cleans differently).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace agentfense::runtime::docker {

// The volume paths of `image` from its inspect answer (GET /images/<ref>/json), cleaned
// ("//", "/./" and a trailing "/" dropped), sorted, without duplicates. Throws UserError
// naming the image and the volume for one that is not absolute, holds "..", or is "/",
// /workspace, /proc, /sys, /dev, /etc, kRuntimeDir or below one of them: a tmpfs there
// would hide the sandbox's files or the kernel's, so such an image is refused.
std::vector<std::string> image_volumes(const std::string& image, const nlohmann::json& inspected);

// Throws UserError unless every mount of the created container (GET
// /containers/<id>/json) is the workspace's bind: a "volume" mount is a host directory.
void refuse_host_volumes(const std::string& image, const nlohmann::json& container);

}  // namespace agentfense::runtime::docker
