#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `snapfs image`: create from snapshots and from sources (all or nothing),
# list, show, permissions, launch-config and deregister, and every bad
# input: one line on stderr, exit 1 (2 for usage), nothing registered.
. "$(dirname "$0")/lib.sh" "$@"

sfs init >/dev/null
head -c 3M /dev/urandom >"$T/root.img"
head -c 1M /dev/urandom >"$T/data.img"
ROOT=$(sfs snapshot create root "$T/root.img" --no-progress)
DATA=$(sfs snapshot create data "$T/data.img" --no-progress)

# images_state: what must not change after a refused command.
images_state() {
	sfs image list --json
	store_state
}

log "create from snapshots"
AMI=$(sfs image create web --device sda="$ROOT" --device /dev/sdb="$DATA:8M" \
	--root-device sda --arch x86_64 --boot-mode bios --description "web tier" \
	--tag role=web --tag env=prod)
case "$AMI" in ami-*) ;; *) fail "create printed '$AMI', not an image id" ;; esac
sfs image show web --json >"$T/show.json"
python3 - "$T/show.json" "$AMI" "$ROOT" "$DATA" <<'EOF' || fail "image show --json is wrong"
import json, sys
j = json.load(open(sys.argv[1]))
ami, root, data = sys.argv[2:5]
assert j["id"] == ami and j["name"] == "web", j
assert j["architecture"] == "x86_64" and j["boot_mode"] == "bios", j
assert j["root_device"] == "sda", j
d = j["devices"]
assert [x["device"] for x in d] == ["sda", "sdb"], d
assert d[0]["snapshot"] == root and d[0]["size"] == 3 << 20 and d[0]["file"] == "sda.img", d
assert d[1]["snapshot"] == data and d[1]["size"] == 8 << 20, d
assert j["description"] == "web tier" and j["tags"] == {"role": "web", "env": "prod"}, j
lp = j["launch_permissions"]
assert lp == {"public": False, "users": [], "groups": []}, lp
assert isinstance(j["created"], int) and j["owner"], j
EOF
sfs image show "$AMI" >"$T/show.txt" || fail "show by id"
grep -q "^root device:  sda" "$T/show.txt" || fail "show: no root device line"
sfs image list | grep -q "^web .*$AMI" || fail "list does not show web"
[ "$(sfs image list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
	fail "list --json"

log "create from sources: one session, volume NAME-DEV"
head -c 2M /dev/urandom >"$T/a.img"
head -c 1M /dev/urandom >"$T/b.img"
sfs image create src --device xvda="$T/a.img" --device xvdb="$T/b.img" --device xvdc="$ROOT" \
	--root-device xvda --no-progress >/dev/null || fail "create from sources"
sfs volume show src-xvda >/dev/null || fail "no volume src-xvda"
sfs volume show src-xvdb >/dev/null || fail "no volume src-xvdb"
SRC_A=$(sfs image show src --json | json_at devices 0 snapshot)
restore_check "$SRC_A" "$T/a.img"

log "bad input: nothing registered"
BEFORE=$(images_state)
unchanged() {
	local now
	now=$(images_state)
	[ "$now" = "$BEFORE" ] || soft_fail "the store changed after: $*"
}
expect_error 1 sfs image create bad --device sda=snap-0123456789abcdef0
grep -q "snap-0123456789abcdef0" <<<"$ERR" || soft_fail "unknown snapshot not named: $ERR"
expect_error 1 sfs image create bad --device sda="$ROOT" --device sda="$DATA"
grep -q "sda" <<<"$ERR" || soft_fail "duplicate device not named: $ERR"
expect_error 1 sfs image create web --device sda="$ROOT"
grep -q "already exists" <<<"$ERR" || soft_fail "duplicate name: $ERR"
for dev in disk0 sda0 sdA nvme0 vd ../sda; do
	expect_error 1 sfs image create bad --device "$dev=$ROOT"
done
expect_error 1 sfs image create bad --device sda="$ROOT" --root-device sdb
grep -q "sdb" <<<"$ERR" || soft_fail "root device not named: $ERR"
expect_error 1 sfs image create bad --device sda="$ROOT" --arch sparc
expect_error 1 sfs image create bad --device sda="$ROOT" --boot-mode legacy
expect_error 1 sfs image create bad --device sda="$ROOT" --arch i386 --boot-mode uefi
expect_error 1 sfs image create bad --device sda="$ROOT" --arch arm64 --boot-mode bios
expect_error 1 sfs image create bad --device sda="$ROOT" --user no-such-user-xq
grep -q "no-such-user-xq" <<<"$ERR" || soft_fail "unknown user not named: $ERR"
expect_error 1 sfs image create bad --device sda="$ROOT" --group no-such-group-xq
expect_error 1 sfs image create bad --device sda="$ROOT:1M"
grep -q "smaller" <<<"$ERR" || soft_fail "size below the snapshot: $ERR"
# 2^63 bytes: once accepted and stored as a negative JSON integer, after
# which no image could be listed.
# The size parser refuses it (over 2^62); 2^61 passes the parser and is
# refused by the image layer's own bound (2^60).
expect_error 2 sfs image create bad --device sda="$ROOT:8388608T"
grep -q "device sda: invalid size" <<<"$ERR" || soft_fail "size 2^63 not refused as such: $ERR"
expect_error 1 sfs image create bad --device sda="$ROOT:2048P"
grep -q "device sda: size .* larger" <<<"$ERR" || soft_fail "size 2^61 not refused as such: $ERR"
sfs image list >/dev/null || soft_fail "image list fails after a refused size"
expect_error 1 sfs image create bad --device sda=snap-xyz
expect_error 1 sfs image create bad --device sda="$T/missing.img"
expect_error 1 sfs image create .bad --device sda="$ROOT"
expect_error 1 sfs image create bad --device sda="$T/a.img" --device sdb=snap-0123456789abcdef0 \
	--no-progress
unchanged "bad input"
# A source that fails while snapshotting (smaller than its volume) after
# another source was read: neither snapshot nor image may remain.
head -c 1M /dev/urandom >"$T/small.img"
sfs snapshot create half-sdb "$T/a.img" --no-progress >/dev/null
BEFORE=$(images_state)
expect_error 1 sfs image create half --device sda="$T/b.img" --device sdb="$T/small.img" \
	--no-progress
unchanged "a source failing half way"
sfs volume show half-sda >/dev/null 2>&1 && soft_fail "volume half-sda exists after a failed create"

log "usage errors exit 2"
expect_error 2 sfs image frobnicate
expect_error 2 sfs image create
expect_error 2 sfs image create bad
expect_error 2 sfs image create bad --device sda
expect_error 2 sfs image create bad --device sda="$ROOT:lots"
expect_error 2 sfs image create bad --device sda="$ROOT" --tag novalue
expect_error 2 sfs image show
expect_error 2 sfs image permission add web
expect_error 2 sfs image permission frob web --public
expect_error 2 sfs image launch-config web
expect_error 2 sfs image launch-config web --mount /m --format vmware
expect_error 2 sfs image launch-config web --mount /m --overlay /o --snapshot-mode
unchanged "usage errors"
expect_error 1 sfs image show nothing-here
expect_error 1 sfs image deregister nothing-here
expect_error 1 sfs image launch-config nothing-here --mount /m

log "permissions"
sfs image permission add web --user root --group root --public || fail "permission add"
sfs image permission add web --user root || fail "adding twice is not an error"
sfs image permission list web --json >"$T/perm.json"
python3 - "$T/perm.json" <<'EOF' || fail "permission list --json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["image"] == "web" and j["public"] is True, j
assert j["users"] == ["root"] and j["groups"] == ["root"], j
EOF
sfs image permission list web | grep -q "^user   root" || fail "permission list"
BEFORE=$(images_state)
expect_error 1 sfs image permission add web --user no-such-user-xq
expect_error 1 sfs image permission add web --group no-such-group-xq
expect_error 1 sfs image permission remove web --user daemon
unchanged "bad permission changes"
sfs image permission remove web --user root --public || fail "permission remove"
sfs image show web --json | python3 -c '
import json, sys
lp = json.load(sys.stdin)["launch_permissions"]
assert lp == {"public": False, "users": [], "groups": ["root"]}, lp' || fail "after remove"

log "launch-config"
sfs image launch-config web --mount "$T/mnt" >"$T/launch.sh" || fail "launch-config qemu"
sh -n "$T/launch.sh" || fail "the qemu script is not valid sh"
grep -q "^exec qemu-system-x86_64" "$T/launch.sh" || fail "no qemu-system-x86_64"
grep -q -- "-machine q35" "$T/launch.sh" || fail "no q35"
grep -q "file=$T/mnt/images/web/sda.img,format=raw,if=none,id=sda,readonly=on" "$T/launch.sh" ||
	fail "sda drive"
[ "$(grep -n 'id=sda' "$T/launch.sh" | cut -d: -f1)" -lt "$(grep -n 'id=sdb' "$T/launch.sh" | cut -d: -f1)" ] ||
	fail "drives not in mapping order"
grep -q "drive=sda,bootindex=1" "$T/launch.sh" || fail "root device does not boot first"
grep -q OVMF "$T/launch.sh" && fail "bios image with OVMF"
sfs image launch-config web --mount "$T/mnt" --snapshot-mode | grep -q -- "-snapshot" ||
	fail "--snapshot-mode"
sfs image launch-config web --mount "$T/mnt" --overlay "$T/ov" >"$T/ov.sh"
grep -q "qemu-img create -q -f qcow2 -F raw -b $T/mnt/images/web/sdb.img $T/ov/web-sdb.qcow2 8388608" "$T/ov.sh" ||
	fail "overlay creation"
grep -q "file=$T/ov/web-sda.qcow2,format=qcow2" "$T/ov.sh" || fail "overlay drive"
sfs image create efi --device vda="$ROOT" --boot-mode uefi >/dev/null
sfs image launch-config efi --mount /m | grep -q "if=pflash,unit=0,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd" ||
	fail "uefi firmware"
sfs image create arm --device vda="$ROOT" --arch arm64 >/dev/null
sfs image launch-config arm --mount /m >"$T/arm.sh"
grep -q "^qemu-system-aarch64" "$T/arm.sh" && grep -q -- "-machine virt" "$T/arm.sh" &&
	grep -q AAVMF_CODE "$T/arm.sh" || fail "arm64 launch"
sfs image create old --device hda="$ROOT" --arch i386 >/dev/null
sfs image launch-config old --mount /m | grep -q "^exec qemu-system-i386" || fail "i386 launch"
sfs image launch-config web --mount "$T/mnt" --format libvirt --kernel /k --append "a&b" >"$T/dom.xml"
python3 - "$T/dom.xml" "$T/mnt" <<'EOF' || fail "libvirt domain"
import sys, xml.etree.ElementTree as ET
d = ET.parse(sys.argv[1]).getroot()
assert d.tag == "domain" and d.find("name").text == "web"
assert d.find("os/cmdline").text == "a&b"
disks = d.findall("devices/disk")
assert [x.find("source").get("file") for x in disks] == [
    sys.argv[2] + "/images/web/sda.img", sys.argv[2] + "/images/web/sdb.img"]
assert all(x.find("readonly") is not None for x in disks)
assert disks[0].find("boot").get("order") == "1"
EOF

log "snapshot delete refuses a snapshot an image uses"
if sfs snapshot delete --help >/dev/null 2>&1; then
	expect_error 1 sfs snapshot delete "$DATA"
	grep -q "web" <<<"$ERR" || soft_fail "refusal does not name the image: $ERR"
else
	log "snapshot delete not built here: skipped"
fi

log "deregister"
sfs image create web2 --device sda="$ROOT" >/dev/null
sfs image deregister web --delete-snapshots >"$T/dereg.txt" || fail "deregister"
grep -q "kept snapshot $ROOT: image .* still uses it" "$T/dereg.txt" || fail "kept not reported: $(cat "$T/dereg.txt")"
grep -q "deleted snapshot $DATA" "$T/dereg.txt" || fail "data snapshot not deleted"
sfs snapshot show "$ROOT" >/dev/null || fail "shared snapshot deleted"
sfs snapshot show "$DATA" >/dev/null 2>&1 && fail "own snapshot kept"
sfs image show web >/dev/null 2>&1 && fail "web still registered"
sfs image deregister web2 >/dev/null || fail "deregister without snapshots"
sfs snapshot show "$ROOT" >/dev/null || fail "deregister without --delete-snapshots deleted"
sfs check >/dev/null || fail "check after deregister"

log "a damaged image record hides no other image; check names it; deregister removes it"
if command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null; then
	# The record an unbounded size left behind: 2^63 as a signed integer.
	{
		mdb_dump -p -s images "$STORE/catalog" | sed '/^HEADER=END$/q'
		echo " huge"
		echo " {\"architecture\":\"x86_64\",\"boot_mode\":\"bios\",\"created\":1,\"devices\":[{\"device\":\"sda\",\"size\":-9223372036854775808,\"snapshot\":\"$ROOT\"}],\"id\":\"ami-0123456789abcdef0\",\"launch_permissions\":{\"groups\":[],\"public\":false,\"users\":[]},\"name\":\"huge\",\"root_device\":\"sda\",\"tags\":{},\"v\":1}"
		echo "DATA=END"
	} >"$T/huge.dump"
	mdb_load -f "$T/huge.dump" -s images "$STORE/catalog" || fail "mdb_load"
	sfs image list >"$T/list.out" 2>"$T/list.err" || fail "image list fails: $(cat "$T/list.err")"
	grep -q "^src " "$T/list.out" || soft_fail "image list lost src: $(cat "$T/list.out")"
	grep -q "huge" "$T/list.out" && soft_fail "image list shows the damaged record"
	grep -q "image huge skipped" "$T/list.err" || soft_fail "the skipped record is not logged"
	sfs image list --json >/dev/null 2>&1 || soft_fail "image list --json fails"
	expect_error 1 sfs image show huge
	grep -q "damaged" <<<"$ERR" || soft_fail "show of a damaged image: $ERR"
	rc=0
	sfs check >"$T/check.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] || soft_fail "check exited $rc with a damaged image record: $(cat "$T/check.out")"
	grep -q "image huge: record is damaged: device sda: size -9223372036854775808 is out of range" \
		"$T/check.out" || soft_fail "check does not name the damaged image: $(cat "$T/check.out")"
	mkdir "$T/mnt-dmg"
	track_mount "$T/mnt-dmg"
	"$SNAPFS" --store "$STORE" mount "$T/mnt-dmg" 2>/dev/null || fail "mount"
	for _ in $(seq 100); do
		[ -e "$T/mnt-dmg/images/src/image.json" ] && break
		sleep 0.1
	done
	[ -e "$T/mnt-dmg/images/src/image.json" ] || soft_fail "the mount's images/ lost src"
	[ -e "$T/mnt-dmg/images/huge" ] && soft_fail "the mount shows the damaged image"
	umount "$T/mnt-dmg"
	sfs image deregister huge --delete-snapshots >"$T/dereg.txt" 2>"$T/dereg.err" ||
		fail "deregister of a damaged record: $(cat "$T/dereg.err")"
	grep -q "none were deleted" "$T/dereg.err" || soft_fail "deregister: $(cat "$T/dereg.err")"
	sfs snapshot show "$ROOT" >/dev/null || fail "deregister of a damaged record deleted a snapshot"
	expect_error 1 sfs image show huge
	sfs check >/dev/null || fail "check after deregistering the damaged record"
else
	log "mdb_dump/mdb_load missing: damaged-record part skipped"
fi
exit 0
