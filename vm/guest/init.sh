#!/bin/busybox sh
# aioharness guest init: mount the pseudo filesystems, load the modules the cases need, make
# and mount the scratch filesystem on the disk under test, run the harness on the ids in
# /job/ids, then on the rows that run alone (/job/alone.ids), then once per device-fault part
# (FAULT_PARTS: its ids in /job/fault.<k>.ids, its rules on a raw disk of its own) on that
# part's ids, and stream the JSON lines to the result port while the console keeps the log.
# Markers `AIOH-PHASE <name>` on the console let the host type where a boot ended.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp /run /mnt/scratch
/bin/busybox --install -s /bin
export PATH=/opt/aioh/bin:/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# The loopback interface, up as on any booted system: the socket rows connect over 127.0.0.1.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
. /job/env
# For the harness: this is an orchestrator guest, (a run-wide --device-fault) the disk's armed
# rules, and the disks that are the O_DIRECT sweep's targets.  A fault part sets its own.
export AIOH_VM_GUEST AIOH_FAULT_DEVICE AIOH_DEVICE_FAULT AIOH_ALLOW_PANIC AIOH_GUEST_DISKS
phase() { echo "AIOH-PHASE $1 t=$(cut -d" " -f1 /proc/uptime) $2" > /dev/console; }
fail() { echo "AIOH-SETUP-FAILED $*" > /dev/console; [ -n "$PORT" ] && echo "{\"type\":\"aioh-setup-failed\",\"reason\":\"$*\"}" >&3; sync; poweroff -f; sleep 10; exit 1; }
phase setup
KVER=$(uname -r)
# Module parameters come from the job as MODPARAMS_<module>, e.g. MODPARAMS_nvme_core=max_retries=0
# (with device faults: the NVMe driver retries a failed command, hiding a one-shot fault).
while read -r m; do
  name=$(basename "$m" .ko | tr - _)
  eval "params=\${MODPARAMS_$name:-}"
  insmod "/lib/modules/$KVER/$m" $params 2>/dev/null || echo "AIOH-WARN insmod $m failed" > /dev/console
done < /etc/aioh/modules.load
# The filesystems the scratch disk and the sweep's targets get, loop for the loop targets and
# fuse for the fuse fault layer's /dev/fuse (and what they need), by modules.dep; built-in is
# fine too.
for m in "$FS" ext4 xfs btrfs loop fuse; do modprobe "$m" 2>/dev/null; done
phase setup-modules
PORT=
i=0
while [ -z "$PORT" ] && [ $i -lt 100 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ "$(cat "$p/name" 2>/dev/null)" = aioh.result ] && PORT=/dev/${p##*/}
  done
  [ -z "$PORT" ] && { sleep 0.1; i=$((i+1)); }
done
[ -n "$PORT" ] || fail "no result port (virtio-serial name aioh.result)"
# A virtio port admits one opener at a time: hold it open once as fd 3 for everything.
exec 3> "$PORT"
echo "{\"type\":\"aioh-phase\",\"phase\":\"setup\",\"boot\":$BOOT}" >&3
i=0
while [ ! -b "/dev/$DISK" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
[ -b "/dev/$DISK" ] || fail "disk /dev/$DISK did not appear"
# The sweep's target disks (raw=/dev/nvme0n2,ext4=...) that this guest has: wait for them too.
# The host names NVMe disks by namespace id (nvme0n<nsid>), the kernel by scan order, which
# async scanning can shuffle: once all have appeared, rename by each disk's sysfs nsid.
if [ -n "$TARGET_DISKS" ] && [ "${DISK#nvme0n}" != "$DISK" ]; then
  want=$(( $(echo "$AIOH_GUEST_DISKS" | tr ',' '\n' | wc -l) + 1 + $(echo $FAULT_DISKS | wc -w) )); i=0
  while [ "$(ls -d /sys/block/nvme0n* 2>/dev/null | wc -l)" -lt "$want" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  by_nsid() { for b in /sys/block/nvme0n*; do [ "$(cat "$b/nsid" 2>/dev/null)" = "$1" ] && { echo "${b##*/}"; return; }; done; echo "nvme0n$1"; }
  DISK=$(by_nsid "${DISK#nvme0n}")
  map=
  for d in $(echo "$AIOH_GUEST_DISKS" | tr ',' ' '); do
    map="$map${map:+,}${d%%=*}=/dev/$(by_nsid "${d##*/dev/nvme0n}")"
  done
  AIOH_GUEST_DISKS=$map
  AIOH_FAULT_DEVICE=/dev/$DISK
  faults=
  for k in $FAULT_PARTS; do
    eval "d=\$FAULT_${k}_DISK"
    eval "FAULT_${k}_DISK=$(by_nsid "${d#nvme0n}")"
    eval "faults=\"\$faults fault.$k=/dev/\$FAULT_${k}_DISK\""
  done
  echo "AIOH-DISKS scratch=/dev/$DISK $AIOH_GUEST_DISKS$faults" > /dev/console
fi
if [ -n "$TARGET_DISKS" ]; then
  # A namespace's node can appear before its size is set (the NVMe scan revalidates it after
  # add_disk): wait for a size too, or mkfs may meet an empty disk.
  for d in $(echo "$AIOH_GUEST_DISKS" | tr ',' ' ') $(for k in $FAULT_PARTS; do eval "echo fault=/dev/\$FAULT_${k}_DISK"; done); do
    dev=${d#*=}; i=0
    while { [ ! -b "$dev" ] || [ "$(cat "/sys/class/block/${dev##*/}/size" 2>/dev/null || echo 0)" = 0 ]; } && [ $i -lt 100 ]; do
      sleep 0.1; i=$((i+1))
    done
    [ -b "$dev" ] || echo "AIOH-WARN target disk $dev did not appear" > /dev/console
  done
fi
if [ "$FS" = tmpfs ]; then
  # Scratch on tmpfs: the disk stays raw.
  mount -t tmpfs tmpfs /mnt/scratch || fail "mount tmpfs scratch failed"
  phase setup-mkfs "raw /dev/$DISK, max_retries=$(cat /sys/module/nvme_core/parameters/max_retries 2>/dev/null)"
else
case "$FS" in
  ext4) mkfs.ext4 -q -F "/dev/$DISK" > /dev/console 2>&1 ;;
  xfs) mkfs.xfs -q -f "/dev/$DISK" > /dev/console 2>&1 ;;
  btrfs) mkfs.btrfs -q -f "/dev/$DISK" > /dev/console 2>&1 ;;
esac || fail "mkfs.$FS /dev/$DISK failed"
phase setup-mkfs
mount -t "$FS" "/dev/$DISK" /mnt/scratch || fail "mount $FS /dev/$DISK failed"
fi
# The harness marks each case in /dev/kmsg at KERN_INFO; show those on the console so a panic
# or hang names the case it happened in.
echo 7 > /proc/sys/kernel/printk
phase run "$(wc -l < /job/ids) ids"
echo "{\"type\":\"aioh-phase\",\"phase\":\"run\"}" >&3
uptime_s() { cut -d" " -f1 /proc/uptime; }
# One harness run (a part: the catalog, or one fault part): its ids, output file and scratch.
# The harness creates its output exclusively (it never overwrites a report): follow the file
# once it exists.  The stream may be cut mid-line by the kill: resend the whole file; the host
# keeps the first environment and the last copy of each result of a part.
run_part() {
  echo "{\"type\":\"aioh-part\",\"part\":\"$1\",\"ids\":$(wc -l < "$2"),\"t\":$(uptime_s)}" >&3
  ( while [ ! -e "$3" ]; do sleep 0.1; done; exec tail -c +1 -f "$3" ) >&3 &
  TAIL=$!
  # A library build under test (scripts/matrix --libs): its .so files, for the harness only.
  LD_LIBRARY_PATH="${AIOH_LD_LIBRARY_PATH:-}" "$HARNESS" --ids "$2" --format jsonl --output "$3" --scratch "$4" $HARNESS_ARGS > /dev/console 2>&1
  RC=$?
  # A moment for tail to pass on the last lines; the resend below makes up for any it missed.
  sleep 0.5
  kill $TAIL 2>/dev/null
  wait $TAIL 2>/dev/null
  echo "" >&3
  [ -e "$3" ] && cat "$3" >&3
  LAST_END=$(uptime_s)
  echo "{\"type\":\"aioh-part-end\",\"part\":\"$1\",\"rc\":$RC,\"t\":$LAST_END}" >&3
}
cd /tmp
ALL_RC=
if [ -s /job/ids ]; then
  run_part catalog /job/ids /run/out.jsonl /mnt/scratch
  ALL_RC=$RC
fi
# The rows that run alone (resource class exclusive: they load modules, make devices, change
# sysctls; each waits with nothing else in flight wherever it runs): after the catalog, so the
# host boots the next guest while these wait, on the same scratch.
if [ -s /job/alone.ids ]; then
  # Its own phase: a panic or hang here is the alone part's, not the catalog's (vm/phases.py).
  phase alone "$(wc -l < /job/alone.ids) ids"
  run_part alone /job/alone.ids /run/out.alone.jsonl /mnt/scratch
  # The first failing part's status names why unreported ids have no result.
  if [ -z "$ALL_RC" ] || [ "$ALL_RC" -eq 0 ]; then ALL_RC=$RC; fi
fi
# The device-fault parts, each on its own raw disk with scratch on tmpfs (nothing but the case
# touches a faulted sector).  The kernel's block error line, which these rows read `fired`
# from, is rate-limited to LOG_BURST lines per 5 s: `lines` counts what may have been printed
# since the window last passed (the catalog's, unknown: a full burst), and a part that would
# take it past LOG_BURST starts LOG_WINDOW s after the last part that printed any ended.  NVMe
# retries are off for a part with a once-rule (the driver would retry and hide the fault).
if [ -n "$FAULT_PARTS" ]; then
  mkdir -p /mnt/fault-scratch
  mount -t tmpfs tmpfs /mnt/fault-scratch || fail "mount tmpfs fault scratch failed"
  RETRIES=/sys/module/nvme_core/parameters/max_retries
  retries0=$(cat $RETRIES 2>/dev/null)
  lines=0 LOG_END=
  [ -n "$ALL_RC" ] && lines=$LOG_BURST LOG_END=$LAST_END
  for k in $FAULT_PARTS; do
    eval "armed=\$FAULT_${k}_ARMED disk=\$FAULT_${k}_DISK retries=\$FAULT_${k}_RETRIES log=\$FAULT_${k}_LOG"
    if [ -n "$log" ] && [ $((lines + log)) -gt "$LOG_BURST" ]; then
      [ -n "$LOG_END" ] && sleep "$(awk -v e="$LOG_END" -v w="$LOG_WINDOW" -v n="$(uptime_s)" 'BEGIN { d = e + w - n; print (d > 0 ? d : 0) }')"
      lines=0
    fi
    [ -n "$retries0" ] && echo "${retries:-$retries0}" > $RETRIES
    export AIOH_DEVICE_FAULT="$armed" AIOH_FAULT_DEVICE="/dev/$disk"
    phase "run-fault.$k" "$(wc -l < "/job/fault.$k.ids") ids, raw /dev/$disk, max_retries=$(cat $RETRIES 2>/dev/null): $armed"
    run_part "fault.$k" "/job/fault.$k.ids" "/run/out.fault.$k.jsonl" /mnt/fault-scratch
    [ -n "$log" ] && lines=$((lines + log)) LOG_END=$LAST_END
    ALL_RC=${ALL_RC:-$RC}
  done
fi
RC=${ALL_RC:-0}
phase collect "rc=$RC"
echo "{\"type\":\"aioh-exit\",\"rc\":$RC}" >&3
sync
umount /mnt/scratch 2>/dev/null
poweroff -f
sleep 30
