# The Debian packages snf-image-creator needs, in one place: sourced by
# scripts/setup.sh (which installs them) and scripts/deb.sh (whose package
# depends on the RUNTIME ones).

# From bookworm-backports, installed first: Debian 12's own qemu-system 7.2
# does not work with qemu-utils 10.
BACKPORTS=(qemu-system-x86 qemu-system-common qemu-system-data)

# What the product runs: the helper VM (libguestfs with its appliance's
# kernel, NTFS, btrfs and LVM tools), qemu-img/qemu-nbd/qemu-io, the
# partition tools, mkfs.fat for the first-boot runner's disk, mkfs.xfs for a
# bundled host's XFS.
RUNTIME=(libguestfs0 linux-image-amd64 qemu-utils fdisk gdisk e2fsprogs btrfs-progs
         ntfs-3g dosfstools xfsprogs lvm2)

# What building, the fixtures and the tests use besides (rpm: rpmbuild and
# rpm make the rpm database the package reader's tests read).
DEVEL=(libguestfs-tools libguestfs-dev debootstrap zstd uuid-runtime openssh-client
       openssl bc pkg-config extlinux syslinux-common tmux libwin-hivex-perl libhivex-bin
       mtools man-db makefs libbsd-dev gcc make time rpm)
