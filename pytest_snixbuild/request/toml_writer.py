"""Write a BuildRequest (and optionally its expectations) as a TOML case file.

The text reads back with :func:`~pytest_snixbuild.request.toml_case.load_case` to an equal
request, given a store that holds the inputs: inputs are written as references into the castore
(``{ directory = "blake3-…", size = N }``, ``{ file = …, size = N, executable = … }``) or as
``{ symlink = "…" }``. Keys equal to their default are left out. Environment variables are a
table when their keys are unique and sorted, and an array of ``{ key, value }`` tables otherwise,
so that every request (even one snix would reject) is written exactly.
"""

from __future__ import annotations

import base64
import re

from pytest_snixbuild.castore.nodes import DirectoryNode, FileNode, Node
from pytest_snixbuild.request.model import BuildConstraints, BuildRequest
from pytest_snixbuild.request.toml_case import Expect

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def toml_string(s: str) -> str:
    """A TOML basic string."""
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_key(k: str) -> str:
    return k if _BARE.fullmatch(k) else toml_string(k)


def toml_bytes(data: bytes) -> str:
    """A string when ``data`` is UTF-8, else ``{ base64 = "…" }``."""
    try:
        return toml_string(data.decode("utf-8"))
    except UnicodeDecodeError:
        return f'{{ base64 = "{base64.b64encode(data).decode("ascii")}" }}'


def toml_strings(items: tuple[str, ...]) -> str:
    if len(items) <= 1 or sum(len(s) for s in items) < 60:
        return "[" + ", ".join(toml_string(s) for s in items) + "]"
    return "[\n" + "".join(f"  {toml_string(s)},\n" for s in items) + "]"


def node_spec(node: Node) -> str:
    """The inline table of an input that refers to ``node`` in the castore."""
    if isinstance(node, DirectoryNode):
        return f'{{ directory = "{node.digest}", size = {node.size} }}'
    if isinstance(node, FileNode):
        executable = "true" if node.executable else "false"
        return f'{{ file = "{node.digest}", size = {node.size}, executable = {executable} }}'
    return f"{{ symlink = {toml_bytes(node.target)} }}"


def _bool(b: bool) -> str:
    return "true" if b else "false"


def _request_lines(req: BuildRequest) -> list[str]:
    default = BuildRequest(command_args=req.command_args)
    lines = ["[request]", f"command_args = {toml_strings(req.command_args)}"]
    for name in ("working_dir", "inputs_dir"):
        if getattr(req, name) != getattr(default, name):
            lines.append(f"{name} = {toml_string(getattr(req, name))}")
    for name in ("scratch_paths", "outputs", "refscan_needles"):
        if getattr(req, name) != getattr(default, name):
            lines.append(f"{name} = {toml_strings(getattr(req, name))}")
    keys = [e.key.encode("utf-8") for e in req.environment_vars]
    env_as_table = keys == sorted(set(keys))
    if req.environment_vars and not env_as_table:
        lines.append("environment_vars = [")
        for e in req.environment_vars:
            lines.append(f"  {{ key = {toml_string(e.key)}, value = {toml_bytes(e.value)} }},")
        lines.append("]")
    if req.constraints is None:
        lines.append("constraints = false")
    if req.environment_vars and env_as_table:
        lines += ["", "[request.environment_vars]"]
        lines += [f"{toml_key(e.key)} = {toml_bytes(e.value)}" for e in req.environment_vars]
    if req.constraints is not None and req.constraints != BuildConstraints():
        c, d = req.constraints, BuildConstraints()
        lines += ["", "[request.constraints]"]
        if c.system != d.system:
            lines.append(f"system = {toml_string(c.system)}")
        if c.min_memory != d.min_memory:
            lines.append(f"min_memory = {c.min_memory}")
        if c.available_ro_paths:
            lines.append(f"available_ro_paths = {toml_strings(c.available_ro_paths)}")
        if c.network_access != d.network_access:
            lines.append(f"network_access = {_bool(c.network_access)}")
        if c.provide_bin_sh != d.provide_bin_sh:
            lines.append(f"provide_bin_sh = {_bool(c.provide_bin_sh)}")
    for f in req.additional_files:
        lines += ["", "[[request.additional_files]]"]
        lines += [f"path = {toml_string(f.path)}", f"contents = {toml_bytes(f.contents)}"]
    if req.inputs:
        lines += ["", "[request.inputs]"]
        lines += [f"{toml_key(name)} = {node_spec(node)}" for name, node in req.inputs.items()]
    return lines


def _expect_lines(expect: Expect) -> list[str]:
    lines = ["", "[expect]", f"success = {_bool(expect.success)}"]
    for path, out in expect.outputs.items():
        lines += ["", f"[expect.outputs.{toml_key(path)}]"]
        if out.type is not None:
            lines.append(f"type = {toml_string(out.type)}")
        if out.digest is not None:
            lines.append(f'digest = "{out.digest}"')
        if out.nar_hash is not None:
            lines.append(f"nar_hash = {toml_string(out.nar_hash)}")
        if out.contents is not None:
            lines.append(f"contents = {toml_bytes(out.contents)}")
        if out.needles is not None:
            lines.append(f"needles = {toml_strings(out.needles)}")
    return lines


def request_to_toml(req: BuildRequest, expect: Expect | None = None) -> str:
    """The case-file text of ``req`` (and ``expect``, when given)."""
    lines = _request_lines(req)
    if expect is not None:
        lines += _expect_lines(expect)
    return "\n".join(lines) + "\n"
