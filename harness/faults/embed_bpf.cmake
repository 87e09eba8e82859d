# Writes the compiled BPF LSM program (IN, an ELF object) into OUT as a C
# array, so the harness carries it and needs no file beside the binary.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "// Generated from ${IN} by harness/faults/embed_bpf.cmake: do not edit.\n#pragma once\nstatic const unsigned char aioh_lsm_bpf_obj[] = {${bytes}};\n")
