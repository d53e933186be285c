// What can go wrong talking to dockerd, as types the server maps to API statuses:
//   DockerUnavailable -> UNAVAILABLE, reason RUNTIME_UNAVAILABLE (nothing answers on the
//                        socket, or not in time: never a hang)
//   ImageNotFound     -> FAILED_PRECONDITION naming the image (pulling is dockerd's
//                        business; the server never pulls)
//   EngineError       -> dockerd answered a request with an error status
#pragma once

#include <stdexcept>
#include <string>

namespace agentfense::runtime::docker {

class DockerUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class EngineError : public std::runtime_error {
 public:
  EngineError(long status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  long status() const { return status_; }

 private:
  long status_;
};

class ImageNotFound : public std::runtime_error {
 public:
  ImageNotFound(std::string image, const std::string& message)
      : std::runtime_error(message), image_(std::move(image)) {}
  const std::string& image() const { return image_; }

 private:
  std::string image_;
};

// The sandbox's container stopped or vanished underneath it (its keeper process was
// killed, dockerd restarted, someone removed it): the sandbox must be started again.
class ContainerGone : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace agentfense::runtime::docker
