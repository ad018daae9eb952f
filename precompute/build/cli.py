"""The command line: parse arguments, call the pipeline, report. No statistics are computed here.

    python -m precompute models
    python -m precompute build use-multilingual-v3 wordllama-l2
    python -m precompute build --default
    python -m precompute build --default --jobs 1
    python -m precompute build ./my-checkpoint --name my-model
    python -m precompute compare use-multilingual-v3 wordllama-l2
    python -m precompute frequency wordllama-l2 --corpus ./texts/
    python -m precompute verify
    python -m precompute publish --all --out bundle/
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import math
import os
import signal
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from precompute import __version__
from precompute.build.locks import Busy
from precompute.build.schedule import default_jobs
from precompute.contract import schema
from precompute.contract.config import BuildConfig, flag
from precompute.contract.naming import check_name, default_root, model_slug, slugify
from precompute.contract.store import ArtifactDir, ArtifactError

DEFAULT_COMPARISON = "default"


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per BuildConfig field, its help taken from the field (one home for each parameter)."""
    group = parser.add_argument_group("build parameters")
    for f in dataclasses.fields(BuildConfig):
        help = f"{f.metadata['help']} (default: {f.default})"
        if isinstance(f.default, tuple):
            group.add_argument(flag(f.name), type=int, nargs="+", default=None, help=help)
        else:
            group.add_argument(flag(f.name), type=type(f.default), default=None, help=help)


def _config_from(args: argparse.Namespace) -> BuildConfig:
    names = [f.name for f in dataclasses.fields(BuildConfig)]
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return BuildConfig.from_dict(given)


def _source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model source")
    group.add_argument("--revision", help="Hugging Face hub revision (branch, tag or commit).")
    group.add_argument("--vocab", dest="vocab_path", help="Vocabulary file for a plain matrix (.txt or .json).")
    group.add_argument("--tensor", help="Name of the embedding tensor, where it cannot be found by itself.")
    group.add_argument("--trust-remote-code", action="store_true",
                       help="Let transformers run code shipped with the checkpoint (off by default).")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m precompute",
        description="Turn a model's token embeddings into the artifacts the Hyperpolyglot dashboard reads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--artifacts", type=Path, default=None,
                        help=f"Artifact directory (default: ${schema.ARTIFACTS_ENV} or ./artifacts).")
    common.add_argument("--quiet", action="store_true", help="No progress bars, warnings only.")
    builds = argparse.ArgumentParser(add_help=False)
    builds.add_argument("--no-wait", dest="wait", action="store_false",
                        help="Fail at once, naming the other process, when the directory is being built; "
                             "by default wait for it.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser(
        "models", parents=[common], help="List the built-in models and the other sources this tool reads."
    )

    build = sub.add_parser(
        "build", parents=[common, builds], help="Build (or bring up to date) the artifacts of one or more models."
    )
    build.add_argument("models", nargs="*", metavar="MODEL",
                       help="Built-in name, Hugging Face hub id, checkpoint directory, or matrix file.")
    build.add_argument("--default", action="store_true",
                       help="Build the default models and their comparison (what `make run` shows).")
    build.add_argument("--name", help="Artifact directory name for a single model (default: from MODEL).")
    build.add_argument("--force", action="store_true", help="Rebuild every step, even when current.")
    build.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                       help="Build each model as a Ray task (then the comparison): alone, a local Ray on this "
                            "machine; 'auto' or an address joins a cluster, whose workers must share the "
                            "artifact directory.")
    build.add_argument("--jobs", type=int, default=default_jobs(), metavar="N",
                       help="Models (and their comparison, once they are built) built at once, each in a process "
                            "of its own, every step waiting for the cores it uses (default: one more than the "
                            f"cores, {default_jobs()}); 1 builds one after another in this process.")
    build.add_argument("--dictionaries", type=Path,
                       help="Folder of MUSE bilingual dictionaries (en-xx.txt) for the meaning statistics.")
    _source_arguments(build)
    _config_arguments(build)

    compare = sub.add_parser(
        "compare", parents=[common, builds], help="Compare models already built: vocabulary overlap, geometry, maps."
    )
    compare.add_argument("models", nargs="+", metavar="MODEL", help="Artifact names of built models (two or more).")
    compare.add_argument("--name", help="Comparison name (default: the model names joined by __).")
    compare.add_argument("--force", action="store_true", help="Rebuild even when current.")
    _config_arguments(compare)

    freq = sub.add_parser(
        "frequency", parents=[common, builds], help="Count a model's tokens over a text corpus (the paper's Figure 9)."
    )
    freq.add_argument("model", metavar="MODEL", help="The model, as given to build.")
    freq.add_argument("--corpus", required=True,
                      help="Local text files or folder, or a hub data set id (streamed) such as allenai/c4.")
    freq.add_argument("--config-name", help="Data set configuration, e.g. a language of mC4.")
    freq.add_argument("--split", default="train", help="Data set split (default: train).")
    freq.add_argument("--text-column", default="text", help="Column holding the text (default: text).")
    freq.add_argument("--limit", type=int, help="Stop after this many documents.")
    freq.add_argument("--name", help="Artifact directory name (default: from MODEL).")
    _source_arguments(freq)
    _config_arguments(freq)

    sub.add_parser(
        "verify", parents=[common], help="Check every artifact against its manifest (presence, sha256, shape)."
    )

    publish = sub.add_parser(
        "publish", parents=[common],
        help="Write a hosting bundle (what the dashboard reads, compressed and indexed) for any static file host.",
    )
    publish.add_argument("models", nargs="*", metavar="MODEL", help="Artifact names of built models to publish.")
    publish.add_argument("--all", action="store_true", help="Publish every built model and their comparisons.")
    publish.add_argument("--out", type=Path, required=True,
                         help="The bundle directory to write (an earlier bundle there is replaced).")
    return parser


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C (or `make run` stopping the build) interrupts a build so that it saves what it finished, also when
    # a shell started it with SIGINT ignored (a background job, nohup), which Python would otherwise keep.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    # Our own logger only: libraries (huggingface_hub, transformers) already print their warnings.
    logger = logging.getLogger("precompute")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    raw = str(args.artifacts) if args.artifacts else os.environ.get(schema.ARTIFACTS_ENV, "")
    if raw.startswith(("http:/", "https:/")):
        print(f"error: the artifact root {raw} is a URL; precompute reads and writes local directories. Pass "
              "--artifacts DIR (a URL is for the dashboard, serving a bundle that `publish` wrote)", file=sys.stderr)
        return 2
    root = args.artifacts or default_root()
    try:
        with logging_redirect_tqdm([logger]):  # log lines above the progress bars, not through them
            return COMMANDS[args.command](args, root)
    except (ValueError, ArtifactError, Busy) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished steps are kept, the next build resumes from them", file=sys.stderr)
        return 130


def _models(args: argparse.Namespace, root: Path) -> int:
    from precompute.sources import available_models

    rows = available_models()
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['kind']:<11}  {r['description']}")
    return 0


def _load(name: str, args: argparse.Namespace):
    """A picklable call that reads the model (in whichever process builds it)."""
    from precompute.sources import load_model

    return functools.partial(load_model, name, revision=args.revision, vocab_path=args.vocab_path,
                             tensor=args.tensor, trust_remote_code=args.trust_remote_code)


def _build(args: argparse.Namespace, root: Path) -> int:
    from precompute.build.schedule import BuildOptions, ModelTask, build
    from precompute.sources import DEFAULT_MODELS
    from precompute.sources.builtin import BUILTINS

    names = list(args.models) + (list(DEFAULT_MODELS) if args.default else [])
    if not names:
        print("error: name at least one MODEL, or pass --default", file=sys.stderr)
        return 2
    if args.name and len(names) > 1:
        print("error: --name names one model's artifacts; build several models without it", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"error: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    config = _config_from(args)
    if args.dictionaries and not args.dictionaries.is_dir():
        print(f"error: --dictionaries {args.dictionaries} is not a folder; pass the folder of MUSE en-xx.txt files",
              file=sys.stderr)
        return 2
    if args.ray is not None:
        return _build_on_ray(args, root, names, config)
    tasks, failed = [], []
    for name in names:
        try:
            size = math.prod(BUILTINS[name].shape) if name in BUILTINS else None
            tasks.append(ModelTask(name, check_name(args.name) if args.name else model_slug(name), _load(name, args),
                                   size))
        except ValueError as e:
            print(f"error: {name}: {e}", file=sys.stderr)
            failed.append(name)

    def report(name: str, result) -> None:
        if isinstance(result, str):
            print(f"error: {name}: {result}", file=sys.stderr)
            failed.append(name)
            return
        _print_report(name, result)
        if not result.ok:
            failed.append(name)

    options = BuildOptions(config, force=args.force, wait=args.wait, dictionaries=args.dictionaries,
                           progress=not args.quiet, log_level=logging.getLogger("precompute").level)
    build(tasks, root, options, comparison=DEFAULT_COMPARISON if args.default else None, jobs=args.jobs,
          on_result=report)
    return 1 if failed else 0


def _build_on_ray(args: argparse.Namespace, root: Path, names: list[str], config: BuildConfig) -> int:
    from precompute.build.distributed import TaskResult, build_models

    try:
        models = [(name, check_name(args.name) if args.name else model_slug(name)) for name in names]
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    load = {"revision": args.revision, "vocab_path": args.vocab_path, "tensor": args.tensor,
            "trust_remote_code": args.trust_remote_code}
    results = build_models(models, root, config, address=None if args.ray == "local" else args.ray, load=load,
                           force=args.force, dictionaries=str(args.dictionaries) if args.dictionaries else None,
                           comparison=DEFAULT_COMPARISON if args.default else None)
    failed = 0
    for name, result in results.items():
        if isinstance(result, TaskResult):
            print(f"{name}: {len(result.ran)} steps built, {len(result.skipped)} current in {result.seconds:.0f} s "
                  f"-> {root / result.slug if not name.startswith('comparison') else root}")
            for step, why in result.failed.items():
                print(f"  FAILED {step}: {why}", file=sys.stderr)
            failed += bool(result.failed)
        else:
            print(f"error: {name}: {result}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _compare(args: argparse.Namespace, root: Path) -> int:
    from precompute.build.pipeline import build_comparison

    slugs = [check_name(slugify(m)) for m in args.models]
    name = check_name(args.name) if args.name else None
    report = build_comparison(slugs, root, _config_from(args), name=name, force=args.force,
                              progress=not args.quiet, wait=args.wait)
    _print_report("comparison", report)
    return 0 if report.ok else 1


def _frequency(args: argparse.Namespace, root: Path) -> int:
    from precompute.analyses.frequency import corpus_texts, count_tokens, frequency_table
    from precompute.build.pipeline import build_model

    model = _load(args.model, args)()
    if model.encode is None:
        print(f"error: {args.model} comes without a tokenizer, so its tokens cannot be counted in a corpus",
              file=sys.stderr)
        return 2
    texts = corpus_texts(args.corpus, split=args.split, text_column=args.text_column, limit=args.limit,
                         config_name=args.config_name)
    counts = count_tokens(model.encode, texts, len(model.vocab), progress=not args.quiet)
    slug = check_name(args.name) if args.name else model_slug(args.model)

    def write_counts(store: ArtifactDir) -> None:
        store.write_table(schema.CORPUS_FREQUENCY, frequency_table(counts))
        store.manifest["corpus"] = {"corpus": args.corpus, "config_name": args.config_name, "split": args.split,
                                    "limit": args.limit, "tokens_counted": int(counts.sum())}
        store.save_manifest()

    print(f"counted {int(counts.sum()):,} tokens; rebuilding the statistics that use frequency")
    report = build_model(model, root, _config_from(args), slug=slug, progress=not args.quiet, wait=args.wait,
                         before=write_counts)
    _print_report(args.model, report)
    return 0 if report.ok else 1


def _verify(args: argparse.Namespace, root: Path) -> int:
    """Every directory: its manifest, every step declared for its kind, every file's presence and sha256."""
    from precompute.steps import discover

    manifests = sorted(root.glob(f"*/{schema.MANIFEST}")) + sorted(
        root.glob(f"{schema.COMPARISONS_DIR}/*/{schema.MANIFEST}"))
    if not manifests:
        print(f"no artifacts under {root}; build them: python -m precompute build --default", file=sys.stderr)
        return 1
    steps = discover()
    bad = 0
    for manifest in manifests:
        try:
            d = ArtifactDir.open(manifest.parent)
        except ArtifactError as e:
            bad += 1
            print(f"PROBLEM  {e}")
            continue
        expected = [s.name for s in steps if s.kind == d.manifest.get("kind", "model")]
        problems = d.problems(expected)
        bad += bool(problems)
        print(f"ok       {manifest.parent}" if not problems else "\n".join(f"PROBLEM  {p}" for p in problems))
    return 1 if bad else 0


def _publish(args: argparse.Namespace, root: Path) -> int:
    from precompute.build.publish import publish

    if bool(args.models) == args.all:
        print("error: name the MODELs to publish, or pass --all", file=sys.stderr)
        return 2
    report = publish(root, args.out, None if args.all else [check_name(m) for m in args.models],
                     progress=not args.quiet)
    print(f"published {len(report.directories)} directories, {report.files} files: "
          f"{report.stored_bytes / 2**20:,.1f} MiB (the artifacts they hold: {report.built_bytes / 2**20:,.1f} MiB "
          f"as built) -> {report.out}")
    print(f"serve it from any static host and run the dashboard with {schema.ARTIFACTS_ENV}=<its URL>")
    return 0


def _print_report(name: str, report) -> None:
    print(f"{name}: {len(report.ran)} steps built, {len(report.skipped)} current -> {report.path}")
    for step, why in report.failed.items():
        print(f"  FAILED {step}: {why}", file=sys.stderr)


COMMANDS = {"models": _models, "build": _build, "compare": _compare, "frequency": _frequency, "verify": _verify,
            "publish": _publish}
