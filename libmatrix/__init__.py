"""The library matrix: the harness's catalog run against other liburing and libaio builds.

A distribution upgrade changes the AIO library under a program that was built against the old
one; a rebuild compiles it against the new headers. Both can change behaviour (retries that hide
errors, user-space fast paths, changed constants), so each catalog build (libs.toml: Debian
packages fetched with vm.aptfetch's private apt configuration) and each user prefix is tested in
two modes: *rebuild* (compiled against its headers, linked to it, RUNPATH at it) and *swap* (the
system-built harness with LD_LIBRARY_PATH at the other .so of the same soname). Which file was
really loaded is read back from the result (the harness's probe asks the dynamic loader); a run
whose loaded file is not the requested one is an error, never a silent system-library result.
"""
