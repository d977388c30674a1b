#!/bin/bash
# Build the riscv64 test guest for the `virt` board from Debian packages only, and cache it.
#
#   scripts/build-riscv64-guest.sh [OUTDIR]     (default: .cache/guests/riscv64)
#
# Produces in OUTDIR:
#   Image              Linux 6.1 (Debian's linux-source-6.1), cross-compiled with Debian's
#                      gcc-riscv64-linux-gnu: ns16550a console, PLIC/CLINT, virtio-mmio
#                      (blk, net, console, rng), goldfish RTC, syscon power-off/reboot,
#                      ext4, SMP.
#   initramfs.cpio.gz  static busybox (Debian's busybox source package). /init mounts
#                      proc, sys and dev, prints "pyqemu-guest-ready" and starts a shell
#                      on the console; the kernel argument pyqemu.run=CMD ('+' for spaces)
#                      runs CMD instead and powers off.
#   linux.config, busybox.config, SHA256SUMS
#
# Idempotent: an artefact already in OUTDIR is not rebuilt (delete it to force).  Needs
# root for apt-get (packages are installed only when missing).  About 5 minutes on 2
# cores; the compile runs under `nice`.  Sources are unpacked under $WORK_DIR
# (default /tmp/pyqemu-riscv64-guest).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$repo/.cache/guests/riscv64}")
work=${WORK_DIR:-/tmp/pyqemu-riscv64-guest}
cross=riscv64-linux-gnu-
jobs=$(nproc)
mkdir -p "$out" "$work"

# Reproducible builds: no host name, user or wall-clock time in the artefacts.
export KBUILD_BUILD_TIMESTAMP="2024-01-01 00:00:00 UTC"
export KBUILD_BUILD_USER=pyqemu KBUILD_BUILD_HOST=pyqemu SOURCE_DATE_EPOCH=1704067200
export DEBIAN_FRONTEND=noninteractive
NICE="nice -n 10"

log() { echo "build-riscv64-guest: $*" >&2; }

need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

need_packages gcc-riscv64-linux-gnu libc6-dev-riscv64-cross linux-source-6.1 make gcc bc \
  bison flex libssl-dev libelf-dev cpio gzip xz-utils dpkg-dev

# --- Linux ------------------------------------------------------------------------------
# Options on top of tinyconfig: what the virt board's devices and the busybox userland need.
KERNEL_OPTIONS=(
  # the machine
  64BIT MMU SOC_VIRT SMP FPU RISCV_ISA_C NONPORTABLE RISCV_SBI_V01
  SIFIVE_PLIC RISCV_TIMER
  # console: 16550 on the device tree, SBI early console
  PRINTK EARLY_PRINTK BUG TTY SERIAL_8250 SERIAL_8250_CONSOLE SERIAL_OF_PLATFORM
  SERIAL_EARLYCON_RISCV_SBI HVC_RISCV_SBI
  # a Unix userland from an initramfs
  MULTIUSER BINFMT_ELF BINFMT_SCRIPT BLK_DEV_INITRD RD_GZIP DEVTMPFS DEVTMPFS_MOUNT
  PROC_FS SYSFS TMPFS FUTEX EPOLL SIGNALFD TIMERFD EVENTFD SHMEM POSIX_TIMERS
  FILE_LOCKING AIO ADVISE_SYSCALLS MEMBARRIER KALLSYMS CMDLINE_BOOL
  # virtio-mmio devices
  VIRTIO_MENU VIRTIO VIRTIO_MMIO VIRTIO_BLK VIRTIO_CONSOLE HW_RANDOM HW_RANDOM_VIRTIO
  NET INET UNIX PACKET NETDEVICES NET_CORE VIRTIO_NET ETHERNET
  # disks
  BLOCK EXT4_FS PARTITION_ADVANCED MSDOS_PARTITION
  # RTC, power-off and reboot through the syscon (sifive test) device
  RTC_CLASS RTC_DRV_GOLDFISH POWER_RESET POWER_RESET_SYSCON POWER_RESET_SYSCON_POWEROFF
  SYSCON_REBOOT_MODE MFD_SYSCON
)

build_kernel() {
  local src=$work/linux
  if [ ! -f "$src/Makefile" ]; then
    log "unpacking linux-source-6.1"
    rm -rf "$src" && mkdir -p "$src"
    tar -xaf /usr/src/linux-source-6.1.tar.xz -C "$src" --strip-components=1
  fi
  cd "$src"
  local kmake=(make -s ARCH=riscv CROSS_COMPILE=$cross)
  "${kmake[@]}" tinyconfig
  local args=()
  for opt in "${KERNEL_OPTIONS[@]}"; do args+=(-e "$opt"); done
  ./scripts/config "${args[@]}" -d WERROR
  "${kmake[@]}" olddefconfig
  log "compiling Linux ($jobs jobs)"
  $NICE "${kmake[@]}" -j"$jobs" Image
  cp arch/riscv/boot/Image "$out/Image.tmp" && mv "$out/Image.tmp" "$out/Image"
  cp .config "$out/linux.config"
}

# --- busybox initramfs --------------------------------------------------------------------
fetch_busybox_source() {
  if ! apt-cache showsrc busybox 2>/dev/null | grep -q '^Package: busybox'; then
    # The source package needs deb-src entries for the suites already configured.
    log "enabling deb-src for busybox's source package"
    sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/pyqemu-deb-src.sources
    apt-get update -q >/dev/null
  fi
  mkdir -p "$work/src"
  (cd "$work/src" && apt-get source -q --download-only busybox >/dev/null)
  rm -rf "$work/busybox"
  dpkg-source -x "$(ls "$work"/src/busybox_*.dsc | head -1)" "$work/busybox" >/dev/null
}

write_init() {
  cat > "$1" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "pyqemu-guest-ready"
for arg in $(cat /proc/cmdline); do
  case "$arg" in pyqemu.run=*) cmd="${arg#pyqemu.run=}"; eval "$(echo "$cmd" | tr '+' ' ')"; poweroff -f;; esac
done
exec setsid cttyhack sh
INIT
  chmod 755 "$1"
}

build_initramfs() {
  [ -f "$work/busybox/Makefile" ] || fetch_busybox_source
  cd "$work/busybox"
  local bmake=(make -s CROSS_COMPILE=$cross)
  "${bmake[@]}" defconfig
  # Static, so the initramfs needs no libc; tc does not build against 6.1 headers.
  sed -i -e 's/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/' \
         -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' .config
  log "compiling busybox ($jobs jobs)"
  $NICE "${bmake[@]}" -j"$jobs" busybox
  "${bmake[@]}" busybox.links
  local root=$work/rootfs
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
  cp busybox "$root/bin/busybox"
  while read -r applet; do ln -sf /bin/busybox "$root/$applet"; done < busybox.links
  write_init "$root/init"
  # Fixed order and timestamps: the same sources give the same archive.
  find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible \
     | gzip -9 -n) > "$out/initramfs.cpio.gz.tmp"
  mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
  cp .config "$out/busybox.config"
}

[ -f "$out/Image" ] && log "Image cached" || build_kernel
[ -f "$out/initramfs.cpio.gz" ] && log "initramfs cached" || build_initramfs
(cd "$out" && sha256sum Image initramfs.cpio.gz linux.config busybox.config > SHA256SUMS)
log "done: $out"
ls -la "$out" >&2
