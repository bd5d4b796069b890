#!/bin/sh
# Installs Debian's Chromium for the console's browser tests (console/).
# Does nothing when /usr/bin/chromium exists; otherwise installs the
# chromium package with apt-get, through sudo when not root and sudo exists.
set -eu

if [ -x /usr/bin/chromium ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium.sh: /usr/bin/chromium is missing and apt-get is not available;" >&2
	echo "install Chromium (Debian package chromium) by other means" >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-chromium.sh: not root and no sudo: run as root: apt-get install chromium" >&2
		exit 1
	fi
fi
echo "installing Chromium for the browser tests (apt-get install chromium)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
