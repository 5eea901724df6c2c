"""Reader for Asterisk's ``.conf`` syntax (the part real configs use).

- ``[name]`` starts a section; ``[name](tmpl1,tmpl2)`` inherits the options of earlier
  template sections; ``[name](!)`` declares a template (kept, but marked ``template``).
- ``key = value`` and ``key => value``; ``;`` starts a comment unless escaped ``\\;``.
- Several sections may share a name (pjsip.conf: endpoint, auth and aor ``[8001]``), so a
  file is a list of sections, each an ordered list of options (keys repeat: ``member =>``).
- ``#include file`` is followed relative to the including file.

Pure: strings in, data out; :func:`read_conf` is the only function that opens a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ConfError", "Section", "parse_conf", "read_conf"]


class ConfError(ValueError):
    """A line that is not valid configuration (names the file and line)."""


@dataclass
class Section:
    name: str
    options: list[tuple[str, str]] = field(default_factory=list)
    template: bool = False
    #: ``(key, value, line number)``, same order as ``options`` (for error messages).
    lines: list[int] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value of ``key`` (later settings override template ones)."""
        for k, v in reversed(self.options):
            if k == key:
                return v
        return default

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.options if k == key]


def _strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out).strip()


def parse_conf(text: str, *, name: str = "<conf>", base: Path | None = None) -> list[Section]:
    """Parse the text of one ``.conf`` file into its sections (in file order)."""
    sections: list[Section] = []
    current: Section | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        if not line:
            continue
        if line.startswith("#include") or line.startswith("#tryinclude"):
            target = line.split(None, 1)[1].strip().strip('"') if " " in line else ""
            if base is not None and target:
                path = base / target
                if path.exists():
                    sub = parse_conf(path.read_text(), name=str(path), base=path.parent)
                    sections.extend(sub)
                    current = sections[-1] if sections else None
                elif not line.startswith("#tryinclude"):
                    raise ConfError(f"{name}:{lineno}: include not found: {target}")
            continue
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                raise ConfError(f"{name}:{lineno}: section header without ']': {raw!r}")
            sect = Section(line[1:end].strip())
            rest = line[end + 1 :].strip()
            if rest.startswith("(") and rest.endswith(")"):
                for tmpl in (t.strip() for t in rest[1:-1].split(",")):
                    if tmpl == "!":
                        sect.template = True
                    elif tmpl:
                        parent = next((s for s in reversed(sections) if s.name == tmpl), None)
                        if parent is None:
                            raise ConfError(f"{name}:{lineno}: unknown template {tmpl!r}")
                        sect.options.extend(parent.options)
                        sect.lines.extend(parent.lines)
            elif rest:
                raise ConfError(f"{name}:{lineno}: unexpected text after section: {raw!r}")
            sections.append(sect)
            current = sect
            continue
        if current is None:
            raise ConfError(f"{name}:{lineno}: option outside any section: {raw!r}")
        if "=>" in line and (line.find("=>") <= line.find("=") or "=" not in line):
            key, _, value = line.partition("=>")
        elif "=" in line:
            key, _, value = line.partition("=")
        else:
            raise ConfError(f"{name}:{lineno}: expected 'key = value': {raw!r}")
        if value.startswith(">"):
            value = value[1:]
        current.options.append((key.strip(), value.strip()))
        current.lines.append(lineno)
    return sections


def read_conf(path: str | Path) -> list[Section]:
    p = Path(path)
    return parse_conf(p.read_text(), name=str(p), base=p.parent)
