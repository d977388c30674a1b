#!/bin/bash
# Build the x86-64 Linux guest for the hardware-speed KVM test:
#   .cache/x86-linux/vmlinuz             Debian's stock kernel (linux-image-amd64)
#   .cache/x86-linux/initramfs.cpio.gz   busybox-static + the virtio modules + /init
#
# /init mounts /proc, /sys and /dev, loads the virtio modules (virtio-pci, virtio-blk,
# virtio-rng, virtio-console and what they depend on, from modules.dep), prints
# "pyqemu-init-reached", then, with pyqemu.test=disk on the command line, writes a
# marker to /dev/vda and reboots; on the next boot it finds the marker, prints it and
# powers off.  Without it, it starts a shell on the console.
#
# Usage: scripts/build-x86-linux-guest.sh [OUTDIR]   (needs apt-get download, cpio)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/.cache/x86-linux}"
mkdir -p "$OUT"
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.cpio.gz" ]; then
    echo "$OUT: already built"
    exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# linux-image-amd64 is a metapackage: download the versioned image it depends on.
IMAGE_PKG="$(apt-cache depends linux-image-amd64 2>/dev/null \
             | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [ -z "$IMAGE_PKG" ]; then
    echo "cannot resolve linux-image-amd64 (run apt-get update first)" >&2
    exit 1
fi
apt-get download "$IMAGE_PKG" busybox-static >/dev/null
dpkg-deb -x linux-image-*.deb kernel
dpkg-deb -x busybox-static_*.deb bb

KVER="$(ls kernel/lib/modules | head -n1)"
cp "kernel/boot/vmlinuz-$KVER" "$OUT/vmlinuz"

ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS"/{bin,sbin,proc,sys,dev,lib/modules,tmp}
cp bb/bin/busybox "$ROOTFS/bin/busybox"
for applet in sh mount umount insmod echo cat dd sync reboot poweroff sleep grep ls \
              mkdir uname head od tr; do
    ln -sf busybox "$ROOTFS/bin/$applet"
done

# The virtio modules and their dependencies, in load order (modules.dep lists deps).
MODDIR="kernel/lib/modules/$KVER"
python3 - "$MODDIR" "$ROOTFS/lib/modules" <<'PY'
# A .deb has no modules.dep (depmod runs at install time): read each module's
# "depends=" from its .modinfo strings instead.
import lzma, os, re, sys
moddir, dest = sys.argv[1], sys.argv[2]
def name(path):
    return os.path.basename(path).split(".ko")[0].replace("-", "_")
files = {}
for top, _dirs, names in os.walk(moddir):
    for n in names:
        if ".ko" in n:
            files[name(n)] = os.path.join(top, n)
def load(mod):
    path = files[mod]
    with (lzma.open(path) if path.endswith(".xz") else open(path, "rb")) as f:
        return f.read()
order = []
def visit(mod):
    if mod in order or mod not in files:
        return                      # built in, or already queued
    data = load(mod)
    m = re.search(rb"depends=([^\0]*)\0", data)
    for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
        visit(dep.replace("-", "_"))
    with open(os.path.join(dest, mod + ".ko"), "wb") as out:
        out.write(data)
    order.append(mod)
for wanted in ("virtio_pci", "virtio_blk", "virtio_rng", "virtio_console"):
    visit(wanted)
with open(os.path.join(dest, "load-order"), "w") as lst:
    lst.write("".join(m + ".ko\n" for m in order))
print("modules:", " ".join(order))
PY

cat > "$ROOTFS/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/load-order); do
    insmod /lib/modules/$m 2>/dev/null
done
echo "pyqemu-init-reached"
sleep 1
if grep -q pyqemu.test=disk /proc/cmdline; then
    MARK="$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 22)"
    if [ "$MARK" = "pyqemu-survived-reboot" ]; then
        echo "marker found after reboot: $MARK"
        poweroff -f
    fi
    echo "writing the marker to /dev/vda, then rebooting"
    printf 'pyqemu-survived-reboot' | dd of=/dev/vda bs=512 conv=sync 2>/dev/null
    sync
    reboot -f
fi
exec /bin/sh
INIT
chmod +x "$ROOTFS/init"
(cd "$ROOTFS" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initramfs.cpio.gz"
echo "built $OUT/vmlinuz ($KVER) and $OUT/initramfs.cpio.gz"
