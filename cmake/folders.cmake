# One static library per source folder, from every .cpp in it: the folder is the unit of the
# architecture (README "Layout"), and a folder's links are its allowed dependencies, all pointing
# down. LibTorch-free folders never see LibTorch's include paths, so a torch include there fails
# to compile; they build on their own (the asan preset, fuzz/).
#
#   ftune_folder_library(ftune_data LINK ftune_tokenizer PRIVATE_LINK ZLIB::ZLIB)
#   ftune_folder_library(ftune_io TORCH LINK ftune_formats ftune_models)
function(ftune_folder_library name)
  cmake_parse_arguments(arg "TORCH" "" "LINK;PRIVATE_LINK" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} PUBLIC ${FTUNE_ROOT})
  target_link_libraries(${name} PUBLIC ${arg_LINK} PRIVATE ${arg_PRIVATE_LINK} ftune_warnings)
  if(arg_TORCH)
    target_link_libraries(${name} PUBLIC ftune_models ${TORCH_LIBRARIES})
    if(FTUNE_PCH)
      target_precompile_headers(${name} REUSE_FROM ftune_models)
    endif()
  endif()
endfunction()
