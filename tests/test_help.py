"""``--help`` through Hydra's help template: every group with its options (no schemas or internal ones), every
field with its type, value and schema help text, examples; ``describe <group>`` / ``--help group=<group>``."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import pytest

from conftest import REPO, compose
from idg.core.config.describe import GROUPS, _schemas, describe, describe_request, field_rows, help_text


def idg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idg.run", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_help_lists_groups_fields_with_their_help_and_examples():
    res = idg("--help")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "base_" not in out and "Powered by Hydra" not in out
    # the schema's help text of inpaint.strength, with its type and default
    assert re.search(r"inpaint\.strength\s+float\s+0\.75\s+denoising strength in \(0, 1\]", out)
    for group in GROUPS:
        assert re.search(rf"^  {re.escape(group)} +\S", out, re.M), group
    (background,) = [line for line in out.splitlines() if line.startswith("  background ")]
    options = re.split(r"[\s,]+", background.strip())[1:]
    assert "empty" not in options and "real_empty" in options  # internal option hidden, real ones listed
    assert "forest_satellite*" in options  # the composed choice starred
    assert "detector.verbose" in out and "== Examples ==" in out and "--multirun,-m" in out  # Hydra's flags too


def test_help_shows_the_values_of_the_overrides():
    out = idg("--help", "experiment=smoke", "inpaint.strength=0.5").stdout
    assert re.search(r"inpaint\.strength\s+float\s+0\.5\s", out) and re.search(r"^  model +.*\bsdxl_turbo, tiny\*", out, re.M)


def test_describe_one_group():
    res = idg("describe", "inpaint", "inpaint=prototype")
    assert res.returncode == 0, res.stderr
    assert "options of inpaint (pick one with inpaint=<option>): default, prototype*" in res.stdout
    assert re.search(r"inpaint\.mode\s+str\s+full\s", res.stdout) and "sampler." not in res.stdout
    assert idg("--help", "group=inpaint", "inpaint=prototype").stdout == res.stdout
    bad = idg("describe", "inpaintt")
    assert bad.returncode == 2 and bad.stderr.startswith("idg: error: describe 'inpaintt': no such group or node")


def test_describe_requests():
    assert describe_request(["describe", "sampler", "sampler=grid"]) == ("sampler", ["sampler=grid"])
    assert describe_request(["--help", "group=sampler", "sampler=grid"]) == ("sampler", ["sampler=grid"])
    assert describe_request(["--help"]) is None and describe_request(["experiment=smoke"]) is None


@pytest.mark.parametrize("node", sorted(_schemas()))
def test_every_field_has_a_help_text(node):
    rows = field_rows(_schemas()[node], node)
    assert rows and all(text.strip() for _, _, _, text in rows), [r[0] for r in rows if not r[3].strip()]
    assert len(rows) >= len(dataclasses.fields(_schemas()[node]))


def test_help_text_in_process_names_every_node():
    text = help_text(compose(["experiment=smoke"]))
    for node in _schemas():
        assert re.search(rf"^{node}\b", text, re.M), node
    assert describe("classes").startswith("options of classes")
