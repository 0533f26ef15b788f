#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Drives the bash completion (scripts/completion/snapfs.bash, $2) the way
# bash does, through COMP_WORDS/COMP_CWORD, against a real store: commands,
# subcommands and options as the binary's help names them, and snapshot
# ids, volume, image and policy names read from the store given by
# --store or $SNAPFS_STORE. Runs once with bash-completion's helpers
# loaded (as an interactive shell has them) and once without.
. "$(dirname "$0")/lib.sh" "$@"
COMPLETION=$(readlink -f "$2")
[ -f "$COMPLETION" ] || fail "no completion script at $2"

mkdir -p "$T/bin"
ln -s "$SNAPFS" "$T/bin/snapfs"
export PATH=$T/bin:$PATH

sfs init >/dev/null
head -c 1M /dev/urandom >"$T/disk"
snap_a=$(sfs snapshot create alpha "$T/disk")
snap_b=$(sfs snapshot create beta "$T/disk")
ami=$(sfs image create webserver --device sda=$snap_a)
sfs policy create nightly --target-tag tier=gold --schedule hourly --retain-count 3 >/dev/null
other=$T/other
sfs --store "$other" init >/dev/null
snap_o=$(sfs --store "$other" snapshot create gamma "$T/disk")

# complete LINE: the candidates bash would offer for LINE (the cursor at
# its end; a trailing space starts a new word), one per line, sorted.
complete_line() {
	local bc=$1 line=$2
	bash --norc --noprofile -c '
		[ "$1" = yes ] && . /usr/share/bash-completion/bash_completion
		. "$2"
		read -ra COMP_WORDS <<<"$3"
		[[ $3 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$3
		COMP_POINT=${#3}
		_snapfs snapfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort
	' _ "$bc" "$COMPLETION" "$line"
}

# expect LINE WORD...: the candidates for LINE include every WORD.
expect() {
	local line=$1 got w
	shift
	got=$(complete_line "$BC" "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" ||
			soft_fail "[$BC] '$line' does not offer '$w' (got: $(tr '\n' ' ' <<<"$got"))"
	done
}

# expect_not LINE WORD...: none of the WORDs is offered.
expect_not() {
	local line=$1 got w
	shift
	got=$(complete_line "$BC" "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$got" && soft_fail "[$BC] '$line' offers '$w'"
	done
	return 0
}

for BC in yes no; do
	if [ $BC = yes ] && [ ! -f /usr/share/bash-completion/bash_completion ]; then
		log "bash-completion not installed: the fallback only"
		continue
	fi
	# Every command of the help, and nothing that is not one.
	expect "snapfs " init info check snapshot volume image mount mount-status report gc policy key bin checkpoint
	expect_not "snapfs " create list
	expect "snapfs sn" snapshot
	expect "snapfs --" --store --key-file --passphrase-fd --verbose --help --version
	expect "snapfs snapshot " create list show diff restore delete copy lock unlock permission
	expect "snapfs image " create list show copy deregister permission launch-config
	expect "snapfs policy " create list show enable disable delete run
	expect "snapfs checkpoint " create list show delete launch-config incoming
	expect "snapfs bin " rule list restore
	# Options of the subcommand, including those only its own help names.
	expect "snapfs snapshot create alpha x --" --changed-ranges --description --tag --json
	expect "snapfs image launch-config webserver --" --mount --overlay --hibernation --ram-dir
	expect "snapfs gc --" --dry-run --rewrite-below
	expect "snapfs report --" --html --json
	expect "snapfs report --html $T/di" "$T/disk"
	expect "snapfs mount /mnt -" --help -f -s -d -o
	expect "snapfs mount-status -" --json --help
	expect "snapfs mount-status $T/ot" "$other"
	expect "snapfs -" -S -v -h -V --store
	expect "snapfs image launch-config webserver --format " qemu libvirt
	# Names and ids from the store in $SNAPFS_STORE.
	expect "snapfs snapshot show " "$snap_a" "$snap_b"
	expect "snapfs snapshot show ${snap_b:0:8}" "$snap_b"
	expect "snapfs snapshot diff $snap_a " "$snap_b"
	expect "snapfs snapshot create " alpha beta
	expect "snapfs snapshot list --volume " alpha beta
	expect "snapfs volume show " alpha beta
	expect "snapfs image show " webserver "$ami"
	expect "snapfs policy show " nightly
	expect "snapfs policy run --policy " nightly
	expect "snapfs volume permission add " alpha beta
	# A value option skipped: the operand after it is still the first one.
	expect "snapfs snapshot restore --force " "$snap_a"
	expect "snapfs snapshot create --description x " alpha
	# The store given on the line beats the environment.
	expect "snapfs --store $other snapshot show " "$snap_o"
	expect_not "snapfs --store $other snapshot show " "$snap_a"
	expect "snapfs -S $other volume show " gamma
	expect_not "snapfs volume show " gamma
	# A path where a path goes.
	expect "snapfs --store $T/ot" "$other"
	expect "snapfs snapshot restore $snap_a $T/di" "$T/disk"
done

# Fast enough to use: ids from a store in well under a second.
start=$(date +%s%N)
complete_line no "snapfs snapshot show " >/dev/null
ms=$((($(date +%s%N) - start) / 1000000))
log "snapshot id completion: ${ms} ms"
[ "$ms" -lt 2000 ] || soft_fail "completion took ${ms} ms"
