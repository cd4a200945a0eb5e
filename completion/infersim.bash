# bash completion for infersim -- installed as
# $(PREFIX)/share/bash-completion/completions/infersim.
#
# Completes subcommands, each subcommand's options (read from its --help),
# table names after --table, figure kinds after --kind, scenario keys after
# --set and --param, and file names elsewhere. The word lists come from the
# binary itself (`infersim complete commands|tables|kinds|keys`), so they
# follow the build.

_infersim_words()
{
    "${_infersim_bin:-infersim}" complete "$1" 2>/dev/null
}

_infersim()
{
    local cur prev command
    _infersim_bin=${COMP_WORDS[0]}
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=""
    if [ "$COMP_CWORD" -gt 0 ]; then
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi
    COMPREPLY=()
    if [ "$COMP_CWORD" -le 1 ]; then
        COMPREPLY=($(compgen -W "$(_infersim_words commands)" -- "$cur"))
        return 0
    fi
    command=${COMP_WORDS[1]}
    case $prev in
    --table)
        COMPREPLY=($(compgen -W "$(_infersim_words tables)" -- "$cur"))
        return 0
        ;;
    --kind)
        COMPREPLY=($(compgen -W "$(_infersim_words kinds)" -- "$cur"))
        return 0
        ;;
    --format)
        COMPREPLY=($(compgen -W "csv json jsonl" -- "$cur"))
        return 0
        ;;
    --emit)
        COMPREPLY=($(compgen -W "slurm parallel" -- "$cur"))
        return 0
        ;;
    --set | --param)
        local key
        COMPREPLY=()
        for key in $(_infersim_words keys); do
            case $key in
            "$cur"*) COMPREPLY+=("$key=") ;;
            esac
        done
        compopt -o nospace 2>/dev/null
        return 0
        ;;
    --seed | --seeds | --runs | --jobs | --run | --sweep | --nodes | --processes | \
        --requests | --concurrency | --rate | --timeout | --duration | --chunk | \
        --chunks | --throttle | --replay | --base-port | --http-requests | --url | \
        --metric | --x | --threads | --host-index | --wait)
        return 0
        ;;
    --deploy-dir | --keys)
        COMPREPLY=($(compgen -d -- "$cur"))
        return 0
        ;;
    esac
    if [[ $cur == -* ]]; then
        local options
        options=$("$_infersim_bin" "$command" --help 2>/dev/null |
            grep -o -- '--[a-z][a-z-]*' | sort -u)
        COMPREPLY=($(compgen -W "$options --help" -- "$cur"))
        return 0
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
}

complete -o filenames -o bashdefault -F _infersim infersim
