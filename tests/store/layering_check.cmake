# The layers run one way (issue 15): the store sits below the server and knows no
# transport, so no file of src/store may include a server header, name the server's
# namespace or include gRPC. Run by CTest (store_layering) as
#   cmake -DSTORE_DIR=<src/store> -P layering_check.cmake
file(GLOB_RECURSE sources "${STORE_DIR}/*.h" "${STORE_DIR}/*.cc")
if(NOT sources)
  message(FATAL_ERROR "no sources under ${STORE_DIR}")
endif()
set(found "")
foreach(source IN LISTS sources)
  file(STRINGS "${source}" hits REGEX "#include [<\"](server/|grpcpp/|grpc/)|server::|grpc::")
  foreach(hit IN LISTS hits)
    string(APPEND found "\n  ${source}: ${hit}")
  endforeach()
endforeach()
if(found)
  message(FATAL_ERROR "src/store depends on the server layer or on gRPC:${found}")
endif()
