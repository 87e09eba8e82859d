# bash completion for harness (aioharness). Flags, interfaces, formats and
# policy profiles come from the installed binary's --help, case ids from
# its --list, so the completion never goes stale.
_aioh_harness() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
  }
  local bin="${COMP_WORDS[0]}"
  case "$prev" in
    -i|--interface)
      COMPREPLY=($(compgen -W "posix-aio kernel-aio libaio io_uring all" -- "$cur")); return ;;
    --format)
      COMPREPLY=($(compgen -W "table json jsonl junit ktap" -- "$cur")); return ;;
    --color)
      COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    --policy)
      local p
      p=$("$bin" --help 2>/dev/null | sed -n 's/.*host policy profile: //p' | tr -d ',')
      COMPREPLY=($(compgen -W "$p" -- "$cur")); return ;;
    -f|--filter|-x|--exclude)
      COMPREPLY=($(compgen -W "$("$bin" --list 2>/dev/null)" -- "$cur")); return ;;
    --cases|--scratch|--target)
      COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --ids|-o|--output|--device)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --timeout|--fault-seed|-k)
      return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$("$bin" --help 2>/dev/null | grep -oE -- '(^| )--?[a-zA-Z][a-zA-Z-]*' | tr -d ' ' | sort -u)" -- "$cur"))
  fi
}
complete -F _aioh_harness harness
