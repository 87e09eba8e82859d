"""aioharness VM matrix: boot Debian kernels in QEMU and run the harness's catalog in each.

The orchestrator knows nothing about cases: it asks the harness binary (`--list`) what to run,
boots a guest per kernel x device, feeds the guest the ids still to run, and collects the
harness's own JSON from a dedicated virtio-serial port.  Everything here is plain standard
library so it runs under Debian's /usr/bin/python3.
"""
