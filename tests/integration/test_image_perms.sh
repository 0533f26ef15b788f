#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Launch permissions enforced by a mount made with -o allow_other: real
# unprivileged users created here open, stat and list an image's files
# when a user, group or public permission covers them, and get EACCES
# otherwise (images/ lists only the images they may use); root always can. Permission changes apply to a running
# mount. Needs root (useradd, allow_other); the users are removed by the
# exit trap however the test ends.
. "$(dirname "$0")/lib.sh" "$@"

[ -e /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
need_root

SUFFIX=$$
U_LISTED=sfsa$SUFFIX   # listed by name
U_GROUP=sfsb$SUFFIX    # member of a listed group
U_OTHER=sfsc$SUFFIX    # covered only by public
G_OPS=sfsops$SUFFIX
for u in "$U_LISTED" "$U_GROUP" "$U_OTHER"; do
	add_user "$u"
done
add_group "$G_OPS" "$U_GROUP"

sfs init >/dev/null
head -c 3M /dev/urandom >"$T/root.img"
SNAP=$(sfs snapshot create root "$T/root.img" --no-progress)
sfs image create priv --device sda="$SNAP:4M" >/dev/null || fail "image create"
sfs image create open --device sda="$SNAP" --public >/dev/null || fail "image create --public"

# The mount point must be reachable by the test users.
chmod 755 "$T"
MNT=$T/mnt
mount_snapfs "$MNT" images/priv/image.json allow_other

# allowed USER IMAGE: USER lists the directory and reads every file.
allowed() {
	local u=$1 img=$2
	as "$u" ls "$MNT/images/$img" >"$T/ls.out" 2>"$T/ls.err" ||
		{ soft_fail "$u cannot list images/$img: $(cat "$T/ls.err")"; return; }
	grep -qx sda.img "$T/ls.out" || soft_fail "$u: images/$img lists $(tr '\n' ' ' <"$T/ls.out")"
	as "$u" cat "$MNT/images/$img/image.json" >/dev/null 2>"$T/cat.err" ||
		soft_fail "$u cannot read images/$img/image.json: $(cat "$T/cat.err")"
	as "$u" cmp -n $((3 << 20)) "$MNT/images/$img/sda.img" "$T/root.img" 2>"$T/cat.err" ||
		soft_fail "$u cannot read images/$img/sda.img: $(cat "$T/cat.err")"
	log "ok: $u may use $img"
}

# refused USER IMAGE: EACCES for the listing, the directory's and every
# file's attributes (sizes and times included), and every file, even just
# after root looked them up.
refused() {
	local u=$1 img=$2 f
	stat "$MNT/images/$img" "$MNT/images/$img/image.json" "$MNT/images/$img/sda.img" \
		>/dev/null || soft_fail "root cannot stat images/$img"
	for f in "" /image.json /sda.img; do
		if as "$u" stat "$MNT/images/$img$f" >/dev/null 2>"$T/st.err"; then
			soft_fail "$u stat images/$img$f"
		elif ! grep -q "Permission denied" "$T/st.err"; then
			soft_fail "$u stat images/$img$f: not EACCES: $(cat "$T/st.err")"
		fi
	done
	if as "$u" ls "$MNT/images/$img" >/dev/null 2>"$T/ls.err"; then
		soft_fail "$u listed images/$img"
	elif ! grep -q "Permission denied" "$T/ls.err"; then
		soft_fail "$u listing images/$img: not EACCES: $(cat "$T/ls.err")"
	fi
	for f in image.json sda.img; do
		if as "$u" cat "$MNT/images/$img/$f" >/dev/null 2>"$T/cat.err"; then
			soft_fail "$u read images/$img/$f"
		elif ! grep -q "Permission denied" "$T/cat.err"; then
			soft_fail "$u opening images/$img/$f: not EACCES: $(cat "$T/cat.err")"
		fi
	done
	log "ok: $u refused $img"
}

log "images/ lists what the caller may use"
as "$U_OTHER" ls "$MNT/images" >"$T/top" || fail "$U_OTHER cannot list images/"
[ "$(tr '\n' ' ' <"$T/top")" = "open " ] || fail "images/ lists $(cat "$T/top") for $U_OTHER"
ls "$MNT/images" >"$T/top" || fail "root cannot list images/"
grep -qx priv "$T/top" && grep -qx open "$T/top" || fail "images/ lists $(cat "$T/top") for root"

log "no permission: only root (and the store's owner, root here)"
head -c 3M "$MNT/images/priv/sda.img" | cmp - "$T/root.img" || fail "root cannot read priv"
for u in "$U_LISTED" "$U_GROUP" "$U_OTHER"; do
	refused "$u" priv
done
log "public"
for u in "$U_LISTED" "$U_GROUP" "$U_OTHER"; do
	allowed "$u" open
done

log "a listed user"
sfs image permission add priv --user "$U_LISTED" || fail "permission add --user"
allowed "$U_LISTED" priv
refused "$U_GROUP" priv
refused "$U_OTHER" priv

log "a listed group (supplementary)"
sfs image permission add priv --group "$G_OPS" || fail "permission add --group"
allowed "$U_GROUP" priv
refused "$U_OTHER" priv

log "removal applies to the running mount"
sfs image permission remove priv --user "$U_LISTED" || fail "permission remove"
refused "$U_LISTED" priv
allowed "$U_GROUP" priv

log "public"
sfs image permission add priv --public || fail "permission add --public"
allowed "$U_OTHER" priv
sfs image permission remove priv --public || fail "permission remove --public"
refused "$U_OTHER" priv

log "image.json shows the permissions"
python3 - "$MNT/images/priv/image.json" "$G_OPS" <<'EOF' || fail "image.json permissions"
import json, sys
lp = json.load(open(sys.argv[1]))["launch_permissions"]
assert lp == {"public": False, "users": [], "groups": [sys.argv[2]]}, lp
EOF
exit 0
