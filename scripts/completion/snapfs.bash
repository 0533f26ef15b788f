# SPDX-License-Identifier: MIT
# bash completion for snapfs. Commands, subcommands and options are read
# from the program's own --help (so they cannot fall out of step with
# it) and kept per shell; snapshot ids and volume, image, policy and
# checkpoint names come from the store named by --store/-S on the line or
# $SNAPFS_STORE, through `snapfs ... list --json` (one catalog read each;
# nothing is written and no key is asked for: stdin is closed).

# _snapfs_help ARGS...: `snapfs ARGS --help`, cached per shell.
_snapfs_help() {
	local key="$*"
	key=${key// /_}
	key=${key//-/_}
	local var="_snapfs_help_${key:-top}"
	if [[ -z ${!var+x} ]]; then
		printf -v "$var" '%s' "$(command "${_snapfs_prog:-snapfs}" "$@" --help </dev/null 2>/dev/null)"
	fi
	printf '%s\n' "${!var}"
}

# Entries of a help's list: the first word of each line indented by two
# and of each alternative on it ("enable NAME | disable NAME"), split at
# '|' ("add|remove ID").
_snapfs_entries() {
	awk '/^  [a-z]/ { n = split($0, alt, / \| /)
		for (i = 1; i <= n; i++) { split(alt[i], w, " "); print w[1] } }' |
		grep -x '[a-z][a-z|-]*' | tr '|' '\n' | sort -u
}

_snapfs_commands() {
	_snapfs_help | sed -n '/^Commands:/,/^$/p' | _snapfs_entries
}

# Long options the help names, its short ones ("-f", "[-o OPTIONS]"), and
# --help, which every command takes.
_snapfs_options() {
	{
		_snapfs_help "$@" | grep -o -- '--[a-z][a-z0-9-]*'
		_snapfs_help "$@" | grep -o -- '\(^\|[] [(|,]\)-[a-zA-Z]\>' | sed 's/^[] [(|,]//'
		echo --help
	} | sort -u
}

# _snapfs_store_list KIND FIELD: FIELD of each entry of `snapfs KIND list
# --json`. The listing is jansson's two-space indent, so a top-level
# entry's fields are the lines indented by four.
_snapfs_store_list() {
	local args=()
	[[ -n $_snapfs_store ]] && args=(--store "$_snapfs_store")
	command "${_snapfs_prog:-snapfs}" "${args[@]}" "$1" list --json </dev/null 2>/dev/null |
		sed -n "s/^    \"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p"
}

# The options of `snapfs ARGS --help` that take a value: those written
# "--opt VALUE", "--opt a|b", "--now 2026-..." or "-o OPTIONS".
_snapfs_valued() {
	_snapfs_help "$@" |
		grep -o -- '\(^\|[] [(|]\)-\{1,2\}[a-zA-Z][a-z0-9-]* \([A-Z][A-Z_]*\|[a-z0-9_]*|\|[0-9]\)' |
		sed 's/^[] [(|]//; s/ .*//' | sort -u
}

# What an operand of COMMAND SUB names, or an option's value.
_snapfs_values() {
	case $1 in
	snapshot) _snapfs_store_list snapshot id ;;
	volume) _snapfs_store_list volume name ;;
	image) _snapfs_store_list image name; _snapfs_store_list image id ;;
	policy) _snapfs_store_list policy name ;;
	checkpoint) _snapfs_store_list checkpoint name; _snapfs_store_list checkpoint id ;;
	esac
}

_snapfs() {
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	_snapfs_prog=${words[0]}
	_snapfs_store=${SNAPFS_STORE:-}

	# The global options, the command, its subcommand and the operands
	# before the cursor.
	local i w cmd="" sub="" nops=0 valued
	valued=" $(_snapfs_valued | tr '\n' ' ') "
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		--store | -S) _snapfs_store=${words[i + 1]}; ((i++)); continue ;;
		--store=*) _snapfs_store=${w#--store=}; continue ;;
		-*)
			[[ $valued == *" $w "* ]] && ((i++))
			continue ;;
		esac
		if [[ -z $cmd ]]; then
			cmd=$w
			valued=" $(_snapfs_valued "$cmd" | tr '\n' ' ') "
		elif [[ -z $sub ]] && [[ $cmd != @(init|info|break-lock|check|gc|mount|mount-status|report) ]]; then
			sub=$w
			valued=" $(_snapfs_valued "$cmd" "$sub" | tr '\n' ' ') "
		else
			((nops++))
		fi
	done

	case $prev in
	--store | -S | --to-store | --mount | --overlay | --ram-dir | --tmp-dir)
		COMPREPLY=($(compgen -d -- "$cur")); return ;;
	--html | --key-file | --changed-ranges | --kernel | --initrd | --serial | --qmp | --to-key-file | --state)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--volume)
		COMPREPLY=($(compgen -W "$(_snapfs_values volume)" -- "$cur")); return ;;
	--policy)
		COMPREPLY=($(compgen -W "$(_snapfs_values policy)" -- "$cur")); return ;;
	--format)
		COMPREPLY=($(compgen -W "qemu libvirt" -- "$cur")); return ;;
	--accel)
		COMPREPLY=($(compgen -W "kvm tcg" -- "$cur")); return ;;
	--mode)
		COMPREPLY=($(compgen -W "governance compliance" -- "$cur")); return ;;
	--arch)
		COMPREPLY=($(compgen -W "x86_64 arm64 i386" -- "$cur")); return ;;
	--boot-mode)
		COMPREPLY=($(compgen -W "bios uefi" -- "$cur")); return ;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$(_snapfs_options)" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_snapfs_commands)" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		if [[ -n $sub ]]; then
			COMPREPLY=($(compgen -W "$(_snapfs_options "$cmd" "$sub")" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_snapfs_options "$cmd")" -- "$cur"))
		fi
		return
	fi
	case $cmd in
	init | info | break-lock | check | gc | report) return ;;
	mount | mount-status) COMPREPLY=($(compgen -d -- "$cur")); return ;;
	esac
	if [[ -z $sub ]]; then
		COMPREPLY=($(compgen -W "$(_snapfs_help "$cmd" | _snapfs_entries)" -- "$cur"))
		return
	fi
	# Operands: what each subcommand's first ones name.
	case $cmd:$sub in
	snapshot:create)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "$(_snapfs_values volume)" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	snapshot:restore)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "$(_snapfs_values snapshot)" -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
		fi ;;
	snapshot:show | snapshot:diff | snapshot:delete | snapshot:lock | snapshot:unlock | snapshot:copy)
		COMPREPLY=($(compgen -W "$(_snapfs_values snapshot)" -- "$cur")) ;;
	snapshot:permission | volume:permission | image:permission)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "add remove list" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_snapfs_values "$cmd")" -- "$cur"))
		fi ;;
	volume:show | volume:tag | volume:set-source)
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_snapfs_values volume)" -- "$cur")) ;;
	image:show | image:copy | image:deregister | image:launch-config)
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_snapfs_values image)" -- "$cur")) ;;
	policy:show | policy:enable | policy:disable | policy:delete)
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_snapfs_values policy)" -- "$cur")) ;;
	checkpoint:show | checkpoint:delete | checkpoint:launch-config)
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_snapfs_values checkpoint)" -- "$cur")) ;;
	bin:rule)
		((nops == 0)) && COMPREPLY=($(compgen -W "create list delete" -- "$cur")) ;;
	key:add-key-file)
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	esac
}
complete -F _snapfs snapfs
