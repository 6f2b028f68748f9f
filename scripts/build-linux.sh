#!/bin/sh
# Rebuild the shared Linux test workload (../shared/linux) from Debian's sources,
# following ../shared/linux/BUILD.md: linux-source-6.1 + busybox 1.35 (static),
# tinyconfig + the recipe's fragment, two variants (shell, poweroff).
# Output: $OUT/{shell,poweroff}/{Image,vmlinux,vmlinux-phys.elf,System.map,config}
# Needs root for apt-get (Debian bookworm) and ~4 minutes on 2 cores.
set -e
HERE=$(cd "$(dirname "$0")/.." && pwd)
RECIPE=${RECIPE:-$HERE/../shared/linux/recipe}
BUILD=${BUILD:-$HERE/build/linux}
OUT=${OUT:-$BUILD/out}
[ -d "$RECIPE" ] || { echo "build-linux: no recipe at $RECIPE" >&2; exit 1; }
mkdir -p "$BUILD"
cp -r "$RECIPE"/. "$BUILD"/

if [ ! -d "$BUILD/src/linux-source-6.1" ] || [ ! -d "$BUILD"/src/busybox-1.35.0 ]; then
    if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/; then
        cat > /etc/apt/sources.list.d/rvkvm-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-source-6.1 \
        gcc-riscv64-linux-gnu libc6-dev-riscv64-cross bc bison flex libssl-dev \
        libelf-dev cpio xz-utils dpkg-dev make
    mkdir -p "$BUILD/src" && cd "$BUILD/src"
    tar xf /usr/src/linux-source-6.1.tar.xz
    apt-get source busybox
fi

cd "$BUILD"/src/busybox-1.35.0
if [ ! -x "$BUILD/busybox" ]; then
    cat debian/config/os/linux debian/config/pkg/static > .config
    sed -i 's|^CONFIG_CROSS_COMPILER_PREFIX=.*|CONFIG_CROSS_COMPILER_PREFIX="riscv64-linux-gnu-"|' .config
    yes "" | make oldconfig > /dev/null
    make -j"$(nproc)" > "$BUILD/busybox-build.log" 2>&1
    make busybox.links > /dev/null
    cp busybox "$BUILD/busybox"; cp busybox.links "$BUILD/busybox.links"
fi

cd "$BUILD/initramfs" && BUILD="$BUILD" ./mklist.sh
cd "$BUILD" && BUILD="$BUILD" OUTDIR="$OUT" ./build-all.sh
echo "build-linux: kernels in $OUT"
