# SPDX-License-Identifier: MIT
# The appliance's disk image and installer ISO, built and booted from the
# source (as root, by hand: not part of make check nor tests/run.sh).
#   make image-check [IMAGE_CHECK_DIR=/tmp/facteur-image] [IMAGE_CHECK_FLAGS=-w]
# IMAGE_CHECK_FLAGS: -w packages the working tree instead of HEAD, -d DIR
# takes the packages built in DIR, -t S limits each boot to S seconds.
# See appliance/image/README.md.
IMAGE_CHECK_DIR = /tmp/facteur-image
IMAGE_CHECK_FLAGS =
image-check:
	$(top_srcdir)/tests/appliance/image-check $(IMAGE_CHECK_FLAGS) $(IMAGE_CHECK_DIR)
.PHONY: image-check
EXTRA_DIST += appliance/image/README.md appliance/image/build-disk appliance/image/build-iso \
	appliance/image/facteur-install tests/appliance/boot-test tests/appliance/image-check
EXTRA_DIST += appliance/image/build-debs appliance/image/build-rootfs appliance/image/rootfs-setup \
	appliance/image/build-cpio appliance/image/build-repo tests/appliance/run \
	tests/appliance/drive-console tests/appliance/serial_console.py \
	tests/appliance/make-update tests/appliance/relay
