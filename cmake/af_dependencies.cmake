# Third-party libraries as af_dep_* targets: shared for every binary, except for a target
# with the property AF_STATIC_DEPS set, which links their static archives (when all of
# them are installed) plus libstdc++ and libgcc statically. agentfense-fs sets it: a
# sandbox start execs it, and the dynamic loader resolving libstdc++, libcrypto, re2 and
# yaml-cpp took ~1.2 ms of every start (2.65 -> 1.45 ms for `agentfense-fs --help`).
# Only glibc stays shared. The server cannot: grpc and libssl bring their own shared
# libstdc++ and libcrypto, and two copies of either in one process must not meet.
#
# $<TARGET_PROPERTY:AF_STATIC_DEPS> in a usage requirement is evaluated on the target
# being linked, so the same af_* libraries serve both kinds.
set(AF_STATIC_DEPS_AVAILABLE ON)
if(AF_SANITIZE)
  set(AF_STATIC_DEPS_AVAILABLE OFF)  # the sanitizers' runtimes want the shared libstdc++
endif()

function(af_dependency name shared archive)
  find_library(AF_STATIC_${name} NAMES ${archive})
  add_library(af_dep_${name} INTERFACE)
  if(AF_STATIC_${name})
    target_link_libraries(af_dep_${name} INTERFACE
      "$<IF:$<BOOL:$<TARGET_PROPERTY:AF_STATIC_DEPS>>,${AF_STATIC_${name}},${shared}>")
  else()
    set(AF_STATIC_DEPS_AVAILABLE OFF PARENT_SCOPE)
    target_link_libraries(af_dep_${name} INTERFACE ${shared})
  endif()
endfunction()

af_dependency(fuse3 PkgConfig::FUSE3 libfuse3.a)
af_dependency(uring PkgConfig::LIBURING liburing.a)
af_dependency(seccomp PkgConfig::SECCOMP libseccomp.a)
af_dependency(re2 PkgConfig::RE2 libre2.a)
af_dependency(crypto PkgConfig::OPENSSL libcrypto.a)
af_dependency(yaml_cpp yaml-cpp libyaml-cpp.a)

# Marks `target` as linked with static third-party libraries, when they are all there.
function(af_link_dependencies_statically target)
  if(NOT AF_STATIC_DEPS_AVAILABLE)
    return()
  endif()
  set_target_properties(${target} PROPERTIES AF_STATIC_DEPS ON)
  # libfuse3.a and libcrypto.a dlopen their optional modules.
  target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  target_link_libraries(${target} PRIVATE ${CMAKE_DL_LIBS})
endfunction()
