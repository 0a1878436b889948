#!/usr/bin/env bash
# A full disk (R5): warned about before it fills; when it is full, a new
# package is neither archived nor published, the log says so loudly, the
# current cut goes on being served, and once space is freed the next
# package goes through. The data folder is a small tmpfs.
. "$(dirname "$0")/lib.sh"

small=$T/small
mkdir -p "$small"
mount -t tmpfs -o size=3m tmpfs "$small" 2>"$T/mount.err" ||
	skip "cannot mount a 3 MB tmpfs for the data folder ($(cat "$T/mount.err")); needs root"
trap 'umount "$small" 2>/dev/null; cleanup' EXIT
spool=$T/spool
mkdir -p "$spool"

start_prepd full --data "$small/var" --spool "$spool" --admin :0 \
	--config <(printf '[ingest]\nmin_free_bytes = 1G\n')
expect_log 'ingest disk-low free_mb=' "low free disk is warned about at start-up"
expect_log 'proto=admin addr=127.0.0.1:' "an admin address without a host is loopback"
cp "$PKGDIR/20240602_2215_PREP_PRES_NAL.tar.gz" "$spool/"
for ((i = 0; i < 50; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *20240602_2215* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" 'label=20240602_2215' "the first package is published"
# Its cut image (a cache, server/image.h) does not fit: skipped, logged.
expect_log 'image write-failed seq=1 .*not enough free space.*action="the cut is published' \
	"a cut image that does not fit is skipped and logged; the cut is served"
[[ -z $(ls "$small/var/images" 2>/dev/null) ]] || fail "an image or a temporary file was left"
ok "no image or temporary file is left on the full disk"

# Fill the disk, leaving less than the next package needs.
dd if=/dev/zero of="$small/filler" bs=4k 2>/dev/null || true
cp "$PKGDIR/20240602_2245_PREP_PRES_NAL.zip" "$spool/"
expect_log 'ingest keep-failed file=.*20240602_2245.*disk full.*NOT archived and NOT published' \
	"a full disk stops archiving, loudly"
code=$(get "http://127.0.0.1:$HTTP_PORT/index.html")
expect_eq "$code" 200 "serving goes on with a full disk"
expect_match "$(header X-PREP-Cut)" 'label=20240602_2215' "the current cut is still the one served"
[[ -f $spool/20240602_2245_PREP_PRES_NAL.zip ]] || fail "the package that could not be archived was removed from the spool"
ok "the package that could not be archived stays in the spool"

# Space comes back: the package is taken again and published.
rm -f "$small/filler"
mv "$spool/20240602_2245_PREP_PRES_NAL.zip" "$spool/.again" && mv "$spool/.again" "$spool/20240602_2245_PREP_PRES_NAL.zip"
for ((i = 0; i < 50; i++)); do
	get "http://127.0.0.1:$HTTP_PORT/" >/dev/null
	[[ $(header X-PREP-Cut) == *20240602_2245* ]] && break
	sleep 0.1
done
expect_match "$(header X-PREP-Cut)" 'label=20240602_2245' "after space is freed the package is published"
"$PREPD" history --data "$small/var" >/dev/null || fail "journal unreadable after a full disk"
ok "the journal is intact after a full disk"
stop_prepd
done_testing
