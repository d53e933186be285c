#!/bin/bash
# Times the README's first command (`bash scripts/demo.sh`) from a fresh clone on a fresh
# Debian 12 root, apt included: issue 16 item 5. Usage, as root:
#   debootstrap --variant=minbase --include=git,ca-certificates bookworm ROOT \
#       http://deb.debian.org/debian
#   unshare -m --fork bench/demo_fresh_root.sh ROOT REPO
# It enters ROOT by pivot_root in a private mount namespace (a chrooted process may not
# create user namespaces, which bwrap needs) and clones REPO (read-only) into it.
set -euo pipefail
R=${1:?usage: demo_fresh_root.sh ROOT REPO}
REPO=${2:?usage: demo_fresh_root.sh ROOT REPO}
mount --make-rprivate /
mount --bind "$R" "$R"
mount -t proc proc "$R"/proc
mount --rbind /sys "$R"/sys
mount --rbind /dev "$R"/dev
mount -t tmpfs tmpfs "$R"/run
mount -t tmpfs tmpfs "$R"/tmp
mkdir -p "$R"/src && mount --bind -o ro "$REPO" "$R"/src
cp /etc/resolv.conf "$R"/etc/resolv.conf
cd "$R" && mkdir -p old && pivot_root . old && umount -l /old
cd /root
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
start=$(date +%s)
git clone -q /src agentfense && cd agentfense && bash scripts/demo.sh
echo "DEMO_SECONDS $(( $(date +%s) - start ))"
