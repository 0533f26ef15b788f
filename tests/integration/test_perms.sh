#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Read grants on an allow_other mount, EBS style: snapshots/ and volumes/
# are readable only by root, the store's owner and users or groups granted
# on the volume or the snapshot; images/ only by the image's launch
# permissions, lookups and listings included; an image permission does not
# open snapshots/. Real unprivileged users created here run ls, stat, cat
# and cmp through the mount. A denied caller gets EACCES (names it may not
# use are left out of listings). Grants and removals apply at once: gated
# nodes are not cached by the kernel on an allow_other mount (entry and
# attribute timeouts of 0), which this test relies on by checking right
# after root or a permitted user looked the same paths up.
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
need_root

SUFFIX=$$
U_VOL=sfpv$SUFFIX   # granted on volume va by name
U_GRP=sfpg$SUFFIX   # member of G, granted on snapshot b1 only
U_NONE=sfpn$SUFFIX  # no grant on volumes or snapshots; launch permission on image pub
U_OWN=sfpo$SUFFIX   # owns the store directory at the end
G=sfpgrp$SUFFIX
for u in "$U_VOL" "$U_GRP" "$U_NONE" "$U_OWN"; do
	add_user "$u"
done
add_group "$G" "$U_GRP"

sfs init >/dev/null
for f in a1 a2 b1; do
	head -c 2M /dev/urandom >"$T/$f.src"
done
A1=$(sfs snapshot create va "$T/a1.src" --no-progress)
A2=$(sfs snapshot create va "$T/a2.src" --no-progress)
B1=$(sfs snapshot create vb "$T/b1.src" --no-progress)
sfs image create pub --device sda="$A1" >/dev/null || fail "image create pub"
sfs image create priv --device sda="$B1" >/dev/null || fail "image create priv"
sfs image permission add pub --user "$U_NONE" || fail "image permission add"

chmod 755 "$T"
MNT=$T/mnt
mount_snapfs "$MNT" "snapshots/$A1.img" allow_other

# denied USER PATH: stat and cat of PATH fail with EACCES, even right
# after root looked it up and read it (a cached dentry must not help).
denied() {
	local u=$1 p=$2 rd=cat
	[ -d "$p" ] && rd=ls
	stat "$p" >/dev/null && $rd "$p" >/dev/null || soft_fail "root cannot read $p"
	if as "$u" stat "$p" >/dev/null 2>"$T/err"; then
		soft_fail "$u stat $p"
	elif ! grep -q "Permission denied" "$T/err"; then
		soft_fail "$u stat $p: not EACCES: $(cat "$T/err")"
	fi
	if as "$u" $rd "$p" >/dev/null 2>"$T/err"; then
		soft_fail "$u read $p"
	elif ! grep -q "Permission denied" "$T/err"; then
		soft_fail "$u read $p: not EACCES: $(cat "$T/err")"
	fi
}

# reads USER PATH SRC: USER reads PATH and gets SRC's bytes.
reads() {
	local u=$1 p=$2 src=$3
	as "$u" cmp "$p" "$src" 2>"$T/err" || soft_fail "$u cannot read $p right: $(cat "$T/err")"
}

# lists USER DIR NAME...: USER's listing of DIR is exactly the NAMEs.
lists() {
	local u=$1 d=$2 got want
	shift 2
	got=$(as "$u" ls "$d" 2>&1 | sort | tr '\n' ' ')
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || soft_fail "$u lists $d as '$got', expected '$want'"
}

# volumes/va/<UTC time>-<id>.img of the newest snapshot.
VNAME_A2=$(ls "$MNT/volumes/va" | grep -- "-$A2.img\$") || fail "no $A2 in volumes/va"

log "no grants: nothing of snapshots/ and volumes/, for any user"
for u in "$U_VOL" "$U_GRP" "$U_NONE"; do
	lists "$u" "$MNT/snapshots"
	lists "$u" "$MNT/volumes"
	for s in "$A1" "$A2" "$B1"; do
		denied "$u" "$MNT/snapshots/$s.img"
	done
	denied "$u" "$MNT/volumes/va"
	denied "$u" "$MNT/volumes/va/$VNAME_A2"
	as "$u" ls "$MNT/volumes/va" >/dev/null 2>&1 && soft_fail "$u listed volumes/va"
	as "$u" readlink "$MNT/volumes/va/latest.img" >/dev/null 2>&1 &&
		soft_fail "$u read volumes/va/latest.img"
done

log "an image permission covers the image's files, not snapshots/"
reads "$U_NONE" "$MNT/images/pub/sda.img" "$T/a1.src"
denied "$U_NONE" "$MNT/snapshots/$A1.img"
lists "$U_NONE" "$MNT/images" pub
denied "$U_NONE" "$MNT/images/priv/sda.img"
denied "$U_NONE" "$MNT/images/priv/image.json"
denied "$U_NONE" "$MNT/images/priv"
lists "$U_VOL" "$MNT/images"

log "a user granted on a volume reads all its snapshots, nothing else"
sfs volume permission add va --user "$U_VOL" || fail "volume permission add"
lists "$U_VOL" "$MNT/snapshots" "$A1.img" "$A2.img"
lists "$U_VOL" "$MNT/volumes" va
reads "$U_VOL" "$MNT/snapshots/$A1.img" "$T/a1.src"
reads "$U_VOL" "$MNT/snapshots/$A2.img" "$T/a2.src"
reads "$U_VOL" "$MNT/volumes/va/latest.img" "$T/a2.src"
reads "$U_VOL" "$MNT/volumes/va/$VNAME_A2" "$T/a2.src"
as "$U_VOL" stat -c %s "$MNT/snapshots/$A1.img" >"$T/size" || soft_fail "$U_VOL stat"
assert_eq "$(cat "$T/size")" $((2 << 20)) "size of $A1.img"
denied "$U_VOL" "$MNT/snapshots/$B1.img"
denied "$U_VOL" "$MNT/volumes/vb"
# The user's own lookup was cached a moment ago: another user still asks.
denied "$U_NONE" "$MNT/snapshots/$A1.img"
denied "$U_NONE" "$MNT/volumes/va/$VNAME_A2"

log "a group granted on one snapshot (supplementary group)"
sfs snapshot permission add "$B1" --group "$G" || fail "snapshot permission add --group"
lists "$U_GRP" "$MNT/snapshots" "$B1.img"
reads "$U_GRP" "$MNT/snapshots/$B1.img" "$T/b1.src"
denied "$U_GRP" "$MNT/snapshots/$A1.img"
denied "$U_GRP" "$MNT/volumes/vb"
denied "$U_VOL" "$MNT/snapshots/$B1.img"
# An image mapping the snapshot is still the image's permission's call.
denied "$U_GRP" "$MNT/images/priv/sda.img"

log "remove revokes at once (no kernel cache timeout to wait for)"
reads "$U_VOL" "$MNT/snapshots/$A1.img" "$T/a1.src"
sfs volume permission remove va --user "$U_VOL" || fail "volume permission remove"
denied "$U_VOL" "$MNT/snapshots/$A1.img"
denied "$U_VOL" "$MNT/volumes/va"
lists "$U_VOL" "$MNT/snapshots"
sfs snapshot permission remove "$B1" --group "$G" || fail "snapshot permission remove"
denied "$U_GRP" "$MNT/snapshots/$B1.img"

log "root and the store's owner always can"
cmp "$MNT/snapshots/$B1.img" "$T/b1.src" || fail "root cannot read $B1"
cmp "$MNT/images/priv/sda.img" "$T/b1.src" || fail "root cannot read images/priv"
chown "$U_OWN" "$STORE"
lists "$U_OWN" "$MNT/snapshots" "$A1.img" "$A2.img" "$B1.img"
lists "$U_OWN" "$MNT/images" priv pub
reads "$U_OWN" "$MNT/snapshots/$B1.img" "$T/b1.src"
reads "$U_OWN" "$MNT/volumes/va/latest.img" "$T/a2.src"
reads "$U_OWN" "$MNT/images/priv/sda.img" "$T/b1.src"
chown root "$STORE"
denied "$U_OWN" "$MNT/snapshots/$B1.img"

log "the grants are listed"
sfs volume permission add va --group "$G" --user "$U_VOL" || fail "permission add two"
sfs volume permission list va --json >"$T/list.json" || fail "permission list --json"
python3 - "$T/list.json" "$U_VOL" "$G" <<'EOF' || fail "permission list --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d == {"volume": "va", "users": [sys.argv[2]], "groups": [sys.argv[3]]}, d
EOF
exit 0
