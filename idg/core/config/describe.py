"""``idg --help`` and ``idg describe <group>``: the config groups with their options, and every field of every
node with its type, value and help text, read from the schemas (``help_field`` metadata) and ``conf/``.

``--help`` goes through Hydra's own ``hydra/help`` template (``conf/hydra/help/idg.yaml``), whose text is the
``${idg.help:}`` resolver registered by :func:`idg.core.config.register_configs`: Hydra composes the config
with the command line's overrides first, so the values shown are the ones the run would get.
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
import typing
from typing import Any, Dict, List, Optional, Sequence, Tuple

from idg.core.config.root import REPO_ROOT, IdgConfig
from idg.core.config.scene import ClassConfig

WIDTH = 110

# Groups without a schema of their own (the rest take their line from their schema's docstring).
GROUP_NOTES = {
    "classes": "the object classes (a dict by class name): prompt, count, box size and aspect-ratio ranges",
    "generator": "diffusion (objects inpainted by the model) | copy_paste (real objects pasted; the baseline) | "
                 "autolabel (whole images whose prompts name the objects, boxed by the labeller)",
    "experiment": "bundles that override several groups at once (smoke, usefulness, compare_generators, sweeps)",
    "hparams_search": "sweeper settings (Optuna over inpaint settings, maximising the main metric)",
    "hydra/launcher": "where --multirun jobs run: basic (one after another), joblib, slurm, ray_gpu",
}
GROUPS = ("dataset", "background", "classes", "sampler", "inpaint", "generator", "labeler", "model", "inpaint_model",
          "quality", "verify", "detector", "real", "logger", "experiment", "hparams_search", "hydra/launcher")
HIDDEN = re.compile(r"^(base_.*|empty)$")  # schemas and internal options (empty: for dataset=from_csv)

EXAMPLES = """\
  idg experiment=smoke                                   the whole study on a tiny model, offline (~1 min on CPU)
  idg dataset=safari sampler=grid real.data=/data/safari/data.yaml
  idg inpaint.strength=0.9 detector.epochs=50 study.fractions=[0.05,0.2,1.0] study.seeds=[0,1,2]
  idg stages=[generate] generate.num_images=1000          generate and export only
  idg -m inpaint.strength=0.5,0.75,1.0 hydra/launcher=joblib   a sweep (then: python -m idg.compare multirun/...)
  idg experiment=smoke --cfg job                         print the composed config, run nothing
  idg describe inpaint                                   one group's fields (also: idg --help group=inpaint)
  idg -v experiment=smoke                                everything, also the libraries' own output"""


def _schemas() -> Dict[str, Any]:
    """Node name -> its schema class (``classes`` -> ClassConfig, one entry per class)."""
    hints = typing.get_type_hints(IdgConfig)
    out: Dict[str, Any] = {}
    for f in dataclasses.fields(IdgConfig):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out[f.name] = tp
        elif typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            out[f.name] = typing.get_args(tp)[1]
    return out


def _type_name(tp: Any) -> str:
    """``float``, ``int|null``, ``list[str]``, ``dict[str,Any]``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        return "|".join(names) + ("|null" if type(None) in args else "")
    if origin in (list, List):
        return f"list[{_type_name(args[0])}]" if args else "list"
    if origin in (dict, Dict):
        return f"dict[{','.join(_type_name(a) for a in args)}]" if args else "dict"
    return getattr(tp, "__name__", str(tp))


def _doc(cls: Any) -> str:
    """The first sentence of a schema's docstring, without reST markup."""
    text = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return re.sub(r"``([^`]*)``", r"\1", " ".join(text.split()))


VALUE_WIDTH = 24


def _value(v: Any, width: int = VALUE_WIDTH) -> str:
    if v is dataclasses.MISSING or v == "???":  # omegaconf's MISSING
        return "(required)"
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    text = "''" if text == "" else text
    return text if len(text) <= width else text[:width - 1] + "…"


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def field_rows(cls: Any, prefix: str, values: Optional[dict] = None) -> List[Tuple[str, str, str, str]]:
    """``(key, type, value, help)`` per field of ``cls``: the value from ``values`` (a composed node) where
    it has the key, else the schema default. Fields that are dataclasses or lists of them expand."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], f"{prefix}.{f.name}"
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list and typing.get_args(tp) else None
        if inner is not None and dataclasses.is_dataclass(inner):
            rows.append((key, "list", _value((values or {}).get(f.name, _default(f))),
                         f.metadata.get("help", "")))
            rows += field_rows(inner, f"{key}[i]")
            continue
        value = values[f.name] if values is not None and f.name in values else _default(f)
        rows.append((key, _type_name(tp), _value(value), f.metadata.get("help", "")))
    return rows


def format_rows(rows: Sequence[Tuple[str, str, str, str]], indent: str = "  ") -> str:
    kw = max([len(r[0]) for r in rows] + [10])
    tw = max([len(r[1]) for r in rows] + [4])
    vw = max([len(r[2]) for r in rows] + [5])
    lead = len(indent) + kw + tw + vw + 6
    out = []
    for key, tp, value, text in rows:
        help_lines = textwrap.wrap(text, max(30, WIDTH - lead)) or [""]
        out.append(f"{indent}{key:<{kw}}  {tp:<{tw}}  {value:<{vw}}  {help_lines[0]}".rstrip())
        out += [" " * lead + line for line in help_lines[1:]]
    return "\n".join(out)


def group_options(group: str) -> List[str]:
    """The options of a config group that a user picks from (no ``base_*`` schemas, no internal ones), from
    Hydra's config search path when Hydra is initialised (plugins' launchers included), else from conf/."""
    options: List[str] = []
    try:
        from hydra.core.global_hydra import GlobalHydra

        if GlobalHydra.instance().is_initialized():
            options = GlobalHydra.instance().config_loader().get_group_options(group)
    except Exception:  # noqa: BLE001 - fall back to the files
        options = []
    if not options:
        options = sorted(p.stem for p in (REPO_ROOT / "conf" / group).glob("*.yaml"))
    return [o for o in options if not HIDDEN.match(o)]


def _choices(root: Any) -> Dict[str, Any]:
    try:
        return dict(root.hydra.runtime.choices)
    except Exception:  # noqa: BLE001 - outside Hydra: no choices known
        return {}


def _node_values(root: Any, name: str) -> Optional[dict]:
    """The composed values of node ``name`` (``""``: the top-level keys that are not nodes), resolved where
    they can be."""
    if root is None:
        return None
    from omegaconf import OmegaConf

    def plain(node: Any) -> Any:
        if not OmegaConf.is_config(node):
            return node
        try:
            return OmegaConf.to_container(node, resolve=True)
        except Exception:  # noqa: BLE001 - an unresolvable interpolation: show the raw values
            return OmegaConf.to_container(node, resolve=False)

    if name == "":
        schemas = _schemas()
        keys = [f.name for f in dataclasses.fields(IdgConfig) if f.name not in schemas]
        return {k: plain(root.get(k)) for k in keys if k in root}
    node = root.get(name)
    return None if node is None else plain(node)


def groups_text(root: Any = None) -> str:
    """Every group, its options (the chosen one starred) and what it sets."""
    schemas, choices = _schemas(), _choices(root)
    lines = []
    for group in GROUPS:
        chosen = choices.get(group)
        opts = ", ".join(f"{o}*" if o == chosen else o for o in group_options(group))
        note = GROUP_NOTES.get(group) or (_doc(schemas[group]).split(": ", 1)[-1] if group in schemas else "")
        lines.append(f"  {group:<15} {opts}")
        lines += [" " * 18 + line for line in textwrap.wrap(note, WIDTH - 18)]
    return "\n".join(lines)


def node_text(name: str, root: Any = None) -> str:
    """One node (a group's or a plain one) with each field's type, value and help text."""
    schemas = _schemas()
    if name == "classes":
        choice = _choices(root).get("classes")
        head = "classes" + (f" (classes={choice})" if choice else "") + f": {GROUP_NOTES['classes']}"
        text = "\n".join(textwrap.wrap(head, WIDTH, subsequent_indent="    ")) + "\n" + format_rows(field_rows(ClassConfig, "classes.<name>"))
        for cls_name, spec in (_node_values(root, "classes") or {}).items():
            values = ", ".join(f"{k}={_value(v, 48)}" for k, v in spec.items())
            text += "\n" + "\n".join(textwrap.wrap(f"classes.{cls_name}: {values}", WIDTH, initial_indent="  ",
                                                   subsequent_indent="      "))
        return text
    if name in ("", "top"):
        rows = [r for r in field_rows(IdgConfig, "", _node_values(root, "")) if r[0].lstrip(".") not in schemas]
        return "top-level keys\n" + format_rows([(k.lstrip("."), t, v, h) for k, t, v, h in rows])
    cls = schemas[name]
    choice = _choices(root).get(name)
    head = f"{name}" + (f" ({name}={choice})" if choice else "") + f": {_doc(cls).split(': ', 1)[-1]}"
    return "\n".join(textwrap.wrap(head, WIDTH, subsequent_indent="    ")) + "\n" + format_rows(
        field_rows(cls, name, _node_values(root, name)))


def describe(name: str, root: Any = None) -> str:
    """``idg describe <name>``: a group's options and fields, or a node's fields."""
    schemas = _schemas()
    known = sorted(set(GROUPS) | set(schemas) | {"top"})
    if name not in known:
        from idg.core.errors import ConfigError

        raise ConfigError(f"describe {name!r}: no such group or node; choose from {', '.join(known)}")
    parts = []
    if name in GROUPS:
        choice = _choices(root).get(name)
        opts = ", ".join(f"{o}*" if o == choice else o for o in group_options(name))
        parts.append(f"options of {name} (pick one with {name}=<option>): {opts}")
        if name in GROUP_NOTES:
            parts.append(GROUP_NOTES[name])
    if name in schemas or name == "top":
        parts.append(node_text(name, root))
    return "\n\n".join(parts) + "\n"


def help_text(root: Any = None) -> str:
    """The whole ``--help`` body: groups, every node's fields, examples; ``$FLAGS_HELP`` is Hydra's."""
    schemas = _schemas()
    order = ["top", "generate", "dataset", "background", "classes", "sampler", "inpaint", "model", "inpaint_model",
             "copy_paste", "quality", "verify", "detector", "real", "study", "logger"]
    order += sorted(set(schemas) - set(order))  # nodes added later still show
    nodes = "\n\n".join(node_text(n, root) for n in order if n == "top" or n in schemas)
    text = (
        "idg: the Infinite Data Generator. Generates object-detection data with a diffusion model (backgrounds from\n"
        "prompts, objects inpainted into sampled boxes), trains Ultralytics YOLO on it, fine-tunes and evaluates on\n"
        "real images, and reports whether the synthetic data helped.\n\n"
        "Usage: idg [-v] [-m] [group=option ...] [key=value ...]     (or: python -m idg.run ...)\n"
        "       idg describe <group or node> [overrides]          one group's options and fields\n\n"
        "== Config groups: group=option (* = chosen) ==\n"
        f"{groups_text(root)}\n\n"
        "== Fields: key=value (type, value in this composition, help) ==\n"
        f"{nodes}\n\n"
        "== Examples ==\n"
        f"{EXAMPLES}\n\n"
        "== Flags (Hydra's) ==\n"
        "  -v, --verbose: idg's debug lines and the libraries' own output (hydra.verbose=idg)\n"
    )
    return text.replace("$", "$$") + "$FLAGS_HELP\n"


def help_resolver(*, _root_: Any) -> str:
    """The ``${idg.help:}`` resolver of ``conf/hydra/help/idg.yaml``: :func:`help_text` of the composed config."""
    return help_text(_root_)


def register_help_resolver() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("idg.help"):
        OmegaConf.register_new_resolver("idg.help", help_resolver)


def describe_request(argv: Sequence[str]) -> Optional[Tuple[str, List[str]]]:
    """``(name, overrides)`` when ``argv`` asks for one group's description: ``describe <name> [overrides]``
    or ``--help group=<name> [overrides]``; else None (the run or Hydra's own --help)."""
    args = list(argv)
    if args[:1] == ["describe"]:
        if len(args) < 2:
            return "", args[1:]
        return args[1], args[2:]
    if ("--help" in args or "-h" in args) and any(a.startswith("group=") for a in args):
        name = [a for a in args if a.startswith("group=")][-1].split("=", 1)[1]
        return name, [a for a in args if a not in ("--help", "-h") and not a.startswith("group=")]
    return None


def compose_for_describe(overrides: Sequence[str]) -> Any:
    """The config ``overrides`` compose to (with its ``hydra`` node, for the chosen options)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
