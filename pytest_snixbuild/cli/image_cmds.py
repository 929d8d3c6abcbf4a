"""``snixbuild image OUT_DIR --from CASE.toml|FILE.drv``: build, then write the outputs as an OCI
image; ``snixbuild image-verify DIR``: check an image layout on disk.

``--from CASE.toml`` builds the case's request in runc (its ``[expect]`` table is not checked);
``--from FILE.drv`` ingests the derivation's input closure from a Nix store directory, turns the
derivation into a request and builds that. Either way the image holds the outputs and every input
they refer to (docs/images.md). Exit status: 0 written (or verified), 2 bad input or options, the
build's status (100 failed, 101 timed out, 125 runtime error) when the build fails, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pytest_snixbuild.castore.store import Store
from pytest_snixbuild.cli.common import (
    add_mode_options,
    add_timeout_option,
    bundle_root_for,
    open_store,
    positive_int,
    terminate_as_interrupt,
)
from pytest_snixbuild.engine.service import OCIBuildService
from pytest_snixbuild.errors import SnixError
from pytest_snixbuild.image.api import ImageResult, build_image
from pytest_snixbuild.image.errors import ImageOptionError
from pytest_snixbuild.image.from_build import image_inputs_from_build
from pytest_snixbuild.image.layering import (
    DEFAULT_LARGE_THRESHOLD,
    DEFAULT_MAX_LAYERS,
    DEFAULT_POPULAR_THRESHOLD,
    LayeringPolicy,
)
from pytest_snixbuild.image.ocijson import parse_reference
from pytest_snixbuild.image.verify import verify_layout
from pytest_snixbuild.request.model import BuildRequest


class ImageSourceError(SnixError):
    """``--from`` names something that is neither a case file nor a derivation."""


def request_from(source: Path, store: Store, nix_store: Path) -> BuildRequest:
    """The BuildRequest of a case file or a derivation; inputs are ingested into ``store``."""
    if source.suffix == ".toml":
        from pytest_snixbuild.request.toml_case import load_case

        return load_case(source, store).request
    if source.suffix == ".drv":
        from pytest_snixbuild.nix.aterm import parse_derivation
        from pytest_snixbuild.nix.build import derivation_request
        from pytest_snixbuild.nix.closure import input_closure

        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ImageSourceError(
                f"--from {source}: cannot read: {exc.strerror} (expected a derivation .drv file)"
            ) from None
        drv = parse_derivation(data, str(source))
        return derivation_request(drv, input_closure(drv, nix_store, store))
    raise ImageSourceError(
        f"--from {source}: expected a case file (.toml) or a Nix derivation (.drv)"
    )


def result_json(result: ImageResult) -> dict[str, Any]:
    return {
        "out_dir": str(result.out_dir),
        "reference": str(result.reference),
        "manifest": {"digest": result.manifest_digest, "size": result.manifest_size},
        "config": {"digest": result.config_digest, "size": result.config_size},
        "layers": [
            {
                "kind": layer.kind,
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "size": layer.size,
                "tar_size": layer.tar_size,
                "blake3": str(layer.blake3),
                "store_paths": list(layer.store_paths),
            }
            for layer in result.layers
        ],
        "docker_archive": str(result.docker_archive) if result.docker_archive else None,
    }


def result_text(result: ImageResult) -> str:
    lines = [
        f"wrote image {result.reference} to {result.out_dir}",
        f"  manifest {result.manifest_digest}",
        f"  config   {result.config_digest}",
    ]
    for i, layer in enumerate(result.layers):
        what = (
            "symlink layer"
            if layer.kind == "symlinks"
            else ", ".join(p.rsplit("/", 1)[-1] for p in layer.store_paths)
        )
        lines.append(f"  layer {i}: {layer.digest[:19]}… {layer.size:>10} B  {what}")
    if result.docker_archive is not None:
        lines.append(f"  docker archive: {result.docker_archive}")
    return "\n".join(lines)


def _argv_option(text: str, what: str) -> list[str]:
    """A JSON list of strings, or one plain string (a single argument)."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ImageSourceError(
                f'--{what} {text!r}: expected a JSON list of strings, e.g. \'["/bin/hello", "-v"]\''
            )
        return value
    return [text]


def cmd_image(args: argparse.Namespace) -> int:
    store = open_store(args.store)
    source = Path(args.source)
    if not source.exists():
        raise ImageSourceError(f"--from {source}: no such file (expected CASE.toml or FILE.drv)")
    entrypoint = _argv_option(args.entrypoint, "entrypoint") if args.entrypoint else None
    cmd = _argv_option(args.cmd, "cmd") if args.cmd else None
    parse_reference(args.tag, "image")  # a bad tag is reported before anything is built
    if args.symlink_layer and args.max_layers < 2:
        raise ImageOptionError(
            f"--max-layers {args.max_layers}: expected at least 2 (a store layer and the "
            "symlink layer), or --no-symlink-layer"
        )
    with bundle_root_for(None) as bundle_root, terminate_as_interrupt():
        request = request_from(source, store, Path(args.nix_store))
        service = OCIBuildService.from_store(
            bundle_root, store, rootless=args.rootless, timeout=args.timeout
        )
        result = service.build(request)
        inputs = image_inputs_from_build(request, result, store, all_inputs=args.all_inputs)
        image = build_image(
            inputs,
            store,
            Path(args.out_dir),
            tag=args.tag,
            max_layers=args.max_layers,
            entrypoint=entrypoint,
            cmd=cmd,
            env=args.env or None,
            symlink_layer=args.symlink_layer,
            architecture=args.architecture,
            workers=args.workers,
            policy=LayeringPolicy(
                popular_threshold=args.popular_threshold, large_threshold=args.large_threshold
            ),
            docker_archive=Path(args.docker_archive) if args.docker_archive else None,
        )
    if args.json:
        print(json.dumps(result_json(image), indent=2))
    else:
        print(result_text(image))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    schema_check = None
    if args.schemas:
        from pytest_snixbuild.image.schema import image_schema_validator

        schema_check = image_schema_validator(Path(args.schemas))
    verified = verify_layout(Path(args.layout), args.tag, schema_check=schema_check)
    print(
        f"{verified.layout}: ok: manifest {verified.manifest_digest}, "
        f"{len(verified.layers)} layer(s), diff_ids and digests match"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "image",
        help="build a case or derivation and write its outputs as an OCI image",
        description="Build CASE.toml or FILE.drv in runc, then write its outputs and the inputs "
        "they refer to as a layered, reproducible OCI image layout in OUT_DIR (with a Docker "
        "manifest.json). Exit status: 0 written, 2 bad input or options, 100/101/125 when the "
        "build fails, 130 interrupted.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="new (or empty) directory for the layout")
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="CASE.toml|FILE.drv",
        help="what to build: a TOML case file or a Nix derivation",
    )
    p.add_argument(
        "--tag",
        default="latest",
        metavar="NAME:TAG",
        help="the image reference; TAG alone keeps the default name (the first output's name); "
        "default: latest",
    )
    p.add_argument(
        "--max-layers",
        type=positive_int,
        default=DEFAULT_MAX_LAYERS,
        metavar="N",
        help=f"at most N layers, the symlink layer included (default {DEFAULT_MAX_LAYERS})",
    )
    p.add_argument(
        "--popular-threshold",
        type=positive_int,
        default=DEFAULT_POPULAR_THRESHOLD,
        metavar="N",
        help="a path referred to by N or more others gets its own layer "
        f"(default {DEFAULT_POPULAR_THRESHOLD})",
    )
    p.add_argument(
        "--large-threshold",
        type=positive_int,
        default=DEFAULT_LARGE_THRESHOLD,
        metavar="BYTES",
        help="a path whose closure has BYTES or more gets its own layer "
        f"(default {DEFAULT_LARGE_THRESHOLD})",
    )
    p.add_argument(
        "--entrypoint",
        metavar="ARGV",
        help='config.Entrypoint: a path, or a JSON list such as \'["/bin/hello","-v"]\'',
    )
    p.add_argument("--cmd", metavar="ARGV", help="config.Cmd: a path or a JSON list")
    p.add_argument(
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="config.Env entry (repeatable; default PATH=/bin:/usr/bin)",
    )
    p.add_argument("--store", metavar="DIR", help="on-disk castore (default: in memory, discarded)")
    p.add_argument(
        "--docker-archive",
        metavar="FILE.tar",
        help="also write the layout as a tar that 'docker load' reads",
    )
    p.add_argument(
        "--no-symlink-layer",
        dest="symlink_layer",
        action="store_false",
        help="leave out the last layer (/bin links, /tmp, /usr/bin/env)",
    )
    p.add_argument(
        "--all-inputs",
        action="store_true",
        help="put every input of the build in the image, not only those the outputs need",
    )
    p.add_argument(
        "--workers", type=positive_int, default=2, metavar="N", help="layers built at once"
    )
    p.add_argument("--architecture", default="amd64", help="config architecture (default amd64)")
    p.add_argument(
        "--nix-store",
        default="/nix/store",
        metavar="DIR",
        help="for a .drv: the Nix store directory holding its inputs (default /nix/store)",
    )
    add_mode_options(p)
    add_timeout_option(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_image)

    v = subparsers.add_parser(
        "image-verify",
        help="check an OCI image layout: digests, sizes, diff_ids, media types",
        description="Walk index.json -> manifest -> config -> layers of the image in DIR and "
        "check every digest, size and diff_id (reading each layer once), plus Docker's "
        "manifest.json. Exit status: 0 valid, 2 invalid (every problem is listed).",
    )
    v.add_argument("layout", metavar="DIR", help="the image layout directory")
    v.add_argument("--tag", help="the org.opencontainers.image.ref.name to check")
    v.add_argument(
        "--schemas",
        metavar="DIR",
        help="also validate every JSON document against the image-spec schemas in DIR",
    )
    v.set_defaults(func=cmd_verify)
