#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A throwaway single-host Ceph cluster for the RADOS tests and the demo:
# one monitor, one manager and three OSDs on memstore (RAM, nothing on
# disk but logs and keys), a replicated pool of size 2, every file in DIR,
# no containers and no systemd. The client section of its conf bounds
# every wait (mount, monitor and OSD operations) so that a client of a
# stopped cluster fails instead of hanging.
#
#   scripts/ceph-test-cluster.sh start DIR [--auth none|cephx] [--pool NAME] [--netns]
#       prints the path of the conf (DIR/ceph.conf) when the pool takes I/O;
#       --netns: also a network namespace (its name in DIR/netns) joined to
#       this one by a veth pair, the cluster on the host side's address, so
#       that a second "host" (nsenter --net=/run/netns/NAME) reaches it
#       over its own network stack
#   scripts/ceph-test-cluster.sh stop DIR      idempotent
#   scripts/ceph-test-cluster.sh kill-osd DIR ID / start-osd DIR ID
#   scripts/ceph-test-cluster.sh pause DIR / resume DIR   (stop and restart
#       every daemon, keeping the cluster's state: SIGSTOP and SIGCONT)
set -euo pipefail

usage() {
	sed -n '/^#   /s/^#   //p' "$0" >&2
	exit 2
}

[ $# -ge 2 ] || usage
CMD=$1
DIR=$2
shift 2
AUTH=cephx
POOL=snapfs-test
NETNS=0
ADDR=127.0.0.1
while [ $# -gt 0 ]; do
	case "$1" in
	--auth) AUTH=$2; shift 2 ;;
	--pool) POOL=$2; shift 2 ;;
	--netns) NETNS=1; shift ;;
	*) [ "$CMD" = kill-osd ] || [ "$CMD" = start-osd ] || usage; OSD_ID=$1; shift ;;
	esac
done
case "$AUTH" in cephx | none) ;; *) usage ;; esac

CONF=$DIR/ceph.conf
# Every admin command bounded: a cluster that does not answer is an error.
ceph_() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }

daemon_pids() {
	local f
	for f in "$DIR"/run/*.pid; do
		[ -f "$f" ] && cat "$f"
	done
	return 0
}

stop() {
	local p left
	[ -d "$DIR/run" ] || return 0
	for p in $(daemon_pids); do
		kill -CONT "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for _ in $(seq 50); do
		left=0
		for p in $(daemon_pids); do
			kill -0 "$p" 2>/dev/null && left=1
		done
		[ $left -eq 0 ] && break
		sleep 0.1
	done
	for p in $(daemon_pids); do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$DIR"/run/*.pid
	if [ -f "$DIR/netns" ]; then
		ip link del "$(cat "$DIR/netns")-h" 2>/dev/null || true
		ip netns del "$(cat "$DIR/netns")" 2>/dev/null || true
		rm -f "$DIR/netns"
	fi
}

# A namespace and a veth pair on a /30 of 10.213.0.0/16 that no interface
# here uses; sets ADDR to the host side.
netns_up() {
	local name=sfsceph$$ x
	for _ in $(seq 50); do
		x=$((RANDOM % 64 * 4))
		y=$((RANDOM % 256))
		ip -o addr | grep -q "10\.213\.$y\.$x/" || break
	done
	ip netns add "$name" &&
		ip link add "$name-h" type veth peer name "$name-n" &&
		ip link set "$name-n" netns "$name" &&
		ip addr add "10.213.$y.$((x + 1))/30" dev "$name-h" &&
		ip link set "$name-h" up &&
		ip netns exec "$name" ip addr add "10.213.$y.$((x + 2))/30" dev "$name-n" &&
		ip netns exec "$name" ip link set "$name-n" up &&
		ip netns exec "$name" ip link set lo up || {
		ip link del "$name-h" 2>/dev/null
		ip netns del "$name" 2>/dev/null
		echo "ceph-test-cluster: cannot make a network namespace" >&2
		return 1
	}
	echo "$name" >"$DIR/netns"
	ADDR=10.213.$y.$((x + 1))
}

start_osd() {
	local id=$1
	ceph-osd -c "$CONF" -i "$id" </dev/null >/dev/null 2>&1
}

start() {
	local port fsid key id uuid
	command -v ceph-mon >/dev/null || {
		echo "ceph-test-cluster: ceph-mon is not installed (scripts/deps.sh)" >&2
		exit 1
	}
	if [ -e "$DIR/run" ]; then
		stop
		rm -rf "$DIR"
	fi
	mkdir -p "$DIR"/{run,log,mon.a,mgr.x}
	DIR=$(cd "$DIR" && pwd)
	CONF=$DIR/ceph.conf
	# Without namespaces (no privilege) the cluster is on loopback only.
	[ "$NETNS" = 0 ] || netns_up || true
	# A free port of our own, so that clusters of parallel runs do not meet.
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 20000))
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || break
	done
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v1:$ADDR:$port
mon initial members = a
ms bind msgr2 = false
public addr = $ADDR
cluster addr = $ADDR
auth cluster required = $AUTH
auth service required = $AUTH
auth client required = $AUTH
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
mon data = $DIR/\$name
mgr data = $DIR/\$name
osd data = $DIR/\$name
ms bind port min = $((port + 1))
ms bind port max = $((port + 200))
osd objectstore = memstore
memstore device bytes = 2147483648
osd crush chooseleaf type = 0
osd pool default size = 2
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
osd heartbeat interval = 1
osd heartbeat grace = 4
mon osd min down reporters = 1
mon osd down out interval = 0
# a stopped cluster (the tests SIGSTOP it) must not stretch the grace
mon osd adjust heartbeat grace = false
mon osd adjust down out interval = false
osd op num shards = 1
osd op num threads per shard = 2
osd memory target = 268435456
mgr initial modules =
debug ms = 0

[client]
client mount timeout = 10
rados mon op timeout = 10
rados osd op timeout = 10
# many short-lived clients at once: no admin socket each
admin socket =
EOF
	if [ "$AUTH" = cephx ]; then
		ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
		ceph-authtool "$DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
			--cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	else
		: >"$DIR/keyring"
	fi
	monmaptool --create --addv a "[v1:$ADDR:$port]" --fsid "$fsid" "$DIR/monmap" >/dev/null
	ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
		>"$DIR/log/mkfs.log" 2>&1
	ceph-mon -c "$CONF" -i a </dev/null >/dev/null 2>&1
	if [ "$AUTH" = cephx ]; then
		ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' >>"$DIR/keyring"
	fi
	ceph-mgr -c "$CONF" -i x </dev/null >/dev/null 2>&1
	for i in 0 1 2; do
		uuid=$(cat /proc/sys/kernel/random/uuid)
		if [ "$AUTH" = cephx ]; then
			key=$(ceph-authtool --gen-print-key)
			id=$(echo "{\"cephx_secret\": \"$key\"}" | ceph_ osd new "$uuid" -i -)
			ceph-authtool "$DIR/keyring" -n "osd.$id" --add-key "$key" >/dev/null
		else
			id=$(ceph_ osd new "$uuid")
		fi
		mkdir -p "$DIR/osd.$id"
		ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$DIR/log/mkfs.log" 2>&1
		start_osd "$id"
	done
	ceph_ osd pool create "$POOL" 16 16 replicated >/dev/null 2>&1
	ceph_ osd pool set "$POOL" size 2 >/dev/null 2>&1
	ceph_ osd pool set "$POOL" min_size 1 >/dev/null 2>&1
	ceph_ osd pool application enable "$POOL" snapfs >/dev/null 2>&1
	# Ready when an object goes in and comes back.
	for _ in $(seq 60); do
		if echo ok | timeout 5 rados -c "$CONF" -p "$POOL" put .probe - 2>/dev/null &&
			timeout 5 rados -c "$CONF" -p "$POOL" rm .probe 2>/dev/null; then
			echo "$CONF"
			return 0
		fi
		sleep 0.5
	done
	echo "ceph-test-cluster: the pool takes no I/O (logs in $DIR/log)" >&2
	stop
	exit 1
}

case "$CMD" in
start) start ;;
stop) stop ;;
kill-osd) kill -KILL "$(cat "$DIR/run/osd.$OSD_ID.pid")"; rm -f "$DIR/run/osd.$OSD_ID.pid" ;;
start-osd) start_osd "$OSD_ID" ;;
pause) for p in $(daemon_pids); do kill -STOP "$p"; done ;;
resume) for p in $(daemon_pids); do kill -CONT "$p"; done ;;
*) usage ;;
esac
