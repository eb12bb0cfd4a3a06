"""`storewatch completion bash|zsh`: a shell completion script drawn from the parser itself.

Generated from ``stream.cli.parser.build_parser`` each time, so a new command or flag completes without
anyone editing a script. zsh runs the same function through its ``bashcompinit`` layer.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

SHELLS = ("bash", "zsh")


def _commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (sub)command as its path (``""``, ``"tune"``, ``"tune set"``) and its parser."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, f"{path} {name}".strip())


def _words(parser: argparse.ArgumentParser, flags: bool) -> list[str]:
    """What may follow a command: its flags, or else its subcommands and positional choices."""
    words: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            words += action.option_strings if flags else []
        elif isinstance(action, argparse._SubParsersAction):
            words += [] if flags else list(action.choices)
        elif action.choices and not flags:
            words += [str(choice) for choice in action.choices]
    return words


def _value_choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """Flags that take one of a few values, and those values."""
    return {
        flag: [str(c) for c in action.choices]
        for action in parser._actions
        if action.option_strings and action.choices
        for flag in action.option_strings
    }


def bash_script(parser: argparse.ArgumentParser, prog: str = "storewatch") -> str:
    commands = dict(_commands(parser))
    function = f"_{prog.replace('-', '_')}"
    paths = " ".join(shlex.quote(path) for path in commands if path)
    word_cases = "\n".join(
        f"        {shlex.quote(path)}) flags={shlex.quote(' '.join(_words(p, True)))}"
        f" words={shlex.quote(' '.join(_words(p, False)))} ;;"
        for path, p in commands.items()
    )
    value_cases = "\n".join(
        f"        {shlex.quote(path + ' ' + flag)}) COMPREPLY=($(compgen -W "
        f"{shlex.quote(' '.join(values))} -- \"$cur\")); return ;;"
        for path, p in commands.items()
        for flag, values in _value_choices(p).items()
    )
    takes_value = " ".join(
        sorted(
            {
                flag
                for p in commands.values()
                for action in p._actions
                if action.option_strings and action.nargs != 0
                for flag in action.option_strings
            }
        )
    )
    return f"""# {prog} completion for bash: source <({prog} completion bash)
{function}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local path="" i candidate words="" flags=""
    local -a paths=({paths})
    for ((i = 1; i < COMP_CWORD; i++)); do
        candidate="${{path:+$path }}${{COMP_WORDS[i]}}"
        for known in "${{paths[@]}}"; do
            [[ $known == "$candidate" ]] && path="$candidate" && break
        done
    done
    case "$path $prev" in
{value_cases}
    esac
    case " {takes_value} " in
        *" $prev "*) COMPREPLY=(); return ;;  # a flag's value: files, by -o default
    esac
    case "$path" in
{word_cases}
    esac
    [[ $cur == -* ]] && words="$flags"  # flags once a dash is typed; files if nothing fits
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -o default -F {function} {prog}
"""


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``shell`` (one of SHELLS)."""
    script = bash_script(parser, parser.prog)
    if shell == "zsh":
        return (
            "# storewatch completion for zsh: source <(storewatch completion zsh)\n"
            "autoload -U +X bashcompinit && bashcompinit\n" + script
        )
    return script
