"""W&B logging: overlays, the objects table, the online->offline fallback, secrets, Ultralytics callbacks,
sweep overrides. Fast: no model; the one real (offline) W&B run takes a couple of seconds."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from idg.core.config import LoggerConfig
from idg.study.detect import _epoch_forwarder, _strip_ultralytics_wandb
from idg.core.overrides import assignments, group_name, label, sweep_info, swept_keys
from idg.report.wandb_log import WandbLogger
from idg.report.wandb_media import background_path, box_sets, object_rows, run_name, wandb_config
from idg.report.wandb_server import server_reachable
from wandb_records import offline_runs

NAMES = ["fire", "smoke"]
SECRET = "0123456789abcdef0123456789abcdef01234567"  # looks like a W&B API key


def obj(j, cls, box, **extra):
    return {"id": j, "class": NAMES[cls], "class_id": cls, "prompt": f"a {NAMES[cls]}", "requested_box": list(box),
            "box": list(box), "seed": 2**62 + j, "strength": 0.75, "steps": 4, **extra}


def record(index, objects, rejected=None, key=None, split="train"):
    rec = {"index": index, "image": f"images/{split}/{index:06d}.png", "label": f"labels/{split}/{index:06d}.txt",
           "split": split, "width": 64, "height": 32, "objects": objects,
           "background": {"key": key} if key else {}}
    if rejected is not None:
        rec["rejected"] = rejected
    return rec


# ------------------------------------------------------------------------------------ pure helpers


def test_box_sets_put_rejected_objects_in_their_own_set_and_colours():
    rec = record(0, [obj(0, 1, (16, 8, 32, 16))],
                 rejected=[obj(1, 0, (0, 0, 8, 8), status="rejected", reject_reason="seam")])
    sets = box_sets(rec, NAMES)
    (label_box,) = sets["labels"]["box_data"]
    assert label_box["position"] == {"minX": 0.25, "maxX": 0.75, "minY": 0.25, "maxY": 0.75}
    assert label_box["class_id"] == 1 and sets["labels"]["class_labels"] == {0: "fire", 1: "smoke"}
    (rej,) = sets["rejected"]["box_data"]
    # shifted past the real classes, so W&B colours it differently from an accepted "fire"
    assert rej["class_id"] == 2 and sets["rejected"]["class_labels"][2] == "rejected fire"
    assert "seam" in rej["box_caption"]
    # the right half of a side-by-side pair
    shifted = box_sets(rec, NAMES, x_offset=64, total_width=128)["labels"]["box_data"][0]["position"]
    assert shifted["minX"] == pytest.approx((64 + 16) / 128) and shifted["maxX"] == pytest.approx((64 + 48) / 128)


def test_box_sets_without_quality_fields_has_no_rejected_set():
    assert set(box_sets(record(0, [obj(0, 0, (1, 1, 4, 4))]), NAMES)) == {"labels"}


def test_object_rows_reads_optional_quality_fields_and_keeps_rejected_first():
    plain = record(0, [obj(0, 0, (1, 2, 3, 4)), obj(1, 1, (5, 6, 7, 8))])
    checked = record(1, [obj(0, 0, (1, 1, 4, 4), box_iou=0.9, attempts=2, seam_edge=0.9, seam_halo=1.7, verify_score=0.8,
                             status="accepted")],
                     rejected=[obj(1, 1, (2, 2, 6, 6), status="rejected", reject_reason="verify", crop="rejected/1_1.png",
                                   verify_score=0.05, attempts=3)])
    rows = object_rows([plain, checked], limit=100)
    assert [(r["index"], r["object"], r["status"]) for r in rows] == [
        (0, 0, "accepted"), (0, 1, "accepted"), (1, 0, "accepted"), (1, 1, "rejected")]
    assert rows[0]["box_iou"] is None and rows[0]["verify_score"] is None and rows[0]["reject_reason"] is None
    assert (rows[0]["x"], rows[0]["y"], rows[0]["w"], rows[0]["h"]) == (1, 2, 3, 4)
    assert rows[0]["seed"] == str(2**62)  # a string: 64-bit seeds lose digits as JSON numbers in a browser
    assert rows[2]["attempts"] == 2 and rows[3]["reject_reason"] == "verify"
    assert (rows[2]["seam_edge"], rows[2]["seam_halo"]) == (0.9, 1.7) and rows[0]["seam_halo"] is None
    assert rows[0]["crop"] == ("image", "images/train/000000.png", [1, 2, 3, 4])
    assert rows[3]["crop"] == ("file", "rejected/1_1.png", None)
    cut = object_rows([plain, checked], limit=2)
    assert [(r["index"], r["status"]) for r in cut] == [(0, "accepted"), (1, "rejected")]


def test_background_path_follows_the_manifest_key(tmp_path):
    key = "ab" + "c" * 62
    assert background_path(tmp_path, record(0, [], key=key)) == tmp_path / "backgrounds" / "ab" / f"{key}.png"
    assert background_path(tmp_path, record(0, [])) is None
    assert background_path(None, record(0, [], key=key)) is None


def test_wandb_config_redacts_secrets_and_adds_sweep():
    config = {"logger": {"project": "idg", "api_key": "x"}, "model": {"pretrained": "hf_" + "a" * 30}}
    out = wandb_config(config, {"name": "g", "keys": ["inpaint.strength"], "values": {"inpaint.strength": 0.5}})
    assert out["logger"] == {"project": "idg", "api_key": "***"} and out["model"]["pretrained"] == "***"
    assert out["sweep"]["values"] == {"inpaint.strength": 0.5}
    assert "sweep" not in wandb_config(config)
    assert run_name("safari", Path("/x/3"), {"values": {"inpaint.strength": 0.5}}) == "safari-3-strength=0.5"


# ------------------------------------------------------------------------------------ reachability probe


@pytest.fixture
def http_server():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(404)  # any answer means "reachable"
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_reachable_answers_within_its_time_box(http_server):
    assert server_reachable(http_server, 2.0)
    assert not server_reachable(f"http://127.0.0.1:{free_port()}", 2.0)  # refused
    assert not server_reachable("not a url", 2.0)
    # A server that accepts the connection but never answers: the probe gives up after its timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        t0 = time.monotonic()
        assert not server_reachable(f"http://127.0.0.1:{silent.getsockname()[1]}", 0.5)
        assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------ a real offline run


def make_export(root: Path, cache: Path) -> list:
    """A 2-image export with a manifest (one image with a rejected object and its crop), its
    generation.json, and the first image's background in the cache."""
    key = "de" + "f" * 62
    records = [
        record(0, [obj(0, 0, (8, 4, 16, 16))], key=key,
               rejected=[obj(1, 1, (30, 10, 12, 12), status="rejected", reject_reason="seam", crop="rejected/0_1.png")]),
        record(1, [obj(0, 1, (40, 8, 20, 20)), obj(1, 0, (2, 2, 10, 10))], key="0" * 64, split="val"),
    ]
    for rec in records:
        (root / rec["image"]).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 32), (200, 40, 40)).save(root / rec["image"])
        (root / rec["label"]).parent.mkdir(parents=True, exist_ok=True)
        (root / rec["label"]).write_text("0 0.5 0.5 0.1 0.1\n")
    (root / "rejected").mkdir()
    Image.new("RGB", (24, 24), (0, 0, 255)).save(root / "rejected" / "0_1.png")
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnc: 2\nnames: {0: fire, 1: smoke}\n")
    (root / "generation.json").write_text(json.dumps({"fingerprint": "feedbeef", "status": "complete", "total_images": 2}))
    bg = cache / "backgrounds" / key[:2] / f"{key}.png"
    bg.parent.mkdir(parents=True)
    Image.new("RGB", (64, 32), (20, 120, 20)).save(bg)
    return records


def test_online_without_server_logs_everything_offline_and_never_writes_secrets(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    root, cache, run_dir = tmp_path / "dataset", tmp_path / "cache", tmp_path / "run"
    records = make_export(root, cache)
    weights = run_dir / "detect" / "syn_only" / "f0_s0" / "weights" / "last.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"not really a checkpoint")
    config = {"dataset": {"name": "toy"}, "logger": {"api_key": SECRET}, "hub_token": "secret-token"}
    cfg = LoggerConfig(mode="online", online_timeout=2.0, num_samples=2, num_pairs=4)

    with caplog.at_level(logging.WARNING, logger="idg.report.wandb_log"):
        t0 = time.monotonic()
        logger = WandbLogger(cfg, run_dir, wandb_config(config), name="toy-run")
        assert time.monotonic() - t0 < 20  # no 30 s wait on W&B's own retries
        assert logger.active and logger.offline
        logger.on_generation(root, records, NAMES, str(cache), "toy", complete=True)
        logger.on_epoch("syn_only/s0", 1, {"metrics/mAP50(B)": 0.5})
        logger.on_models([{"arm": "syn_only", "fraction": 0.0, "seed": 0, "map50": 0.5, "weights": str(weights)}],
                          "toy", root)
        logger.on_finish()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("idg")]
    assert len(warnings) == 1 and "not reachable" in warnings[0].getMessage()

    (run,) = offline_runs(run_dir)
    assert "logger" in run.config, (run.config, sorted(p.name for p in run.dir.rglob("*")))
    assert run.config["logger"]["api_key"] == "***" and run.config["hub_token"] == "***"
    for path in (run_dir / "wandb").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert {"syn_only/s0/epoch", "syn_only/s0/metrics/mAP50(B)"} <= run.history_keys
    # Box overlays: the samples have a rejected set; one before/after pair (only one background is cached)
    boxes = [json.loads(p.read_text()) for p in run.media("generated_*.boxes2D.json")]
    assert any(b["class_id"] >= len(NAMES) for b in boxes for b in b["box_data"])
    assert len(run.media("before_after_*.png")) == 1
    with Image.open(run.media("before_after_*.png")[0]) as pair:
        assert pair.size == (128, 32)
        assert pair.getpixel((10, 10)) == (20, 120, 20) and pair.getpixel((74, 28)) == (200, 40, 40)
    (table,) = [json.loads(p.read_text()) for p in run.media("objects_*.table.json")]
    status = table["columns"].index("status")
    assert sorted(row[status] for row in table["data"]) == ["accepted", "accepted", "accepted", "rejected"]
    (objects,) = [a for a in run.artifacts_of("run_table") if "objects" in a.name]
    assert sum(c.path.endswith(".png") for c in objects.manifest.contents) == 4  # a crop per row
    (dataset,) = run.artifacts_of("dataset")
    assert "fp-feedbeef" in dataset.aliases
    assert {"manifest.jsonl", "data.yaml", "rejected/0_1.png", "images/val/000001.png"} <= {c.path for c in dataset.manifest.contents}
    (model,) = run.artifacts_of("model")
    assert json.loads(model.metadata)["synthetic_dataset"] == "toy-synthetic:fp-feedbeef"


def test_online_with_a_rejected_key_falls_back_to_offline(tmp_path, monkeypatch, caplog):
    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errors": [{"message": "invalid API key"}]}')

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    try:
        with caplog.at_level(logging.WARNING, logger="idg.report.wandb_log"):
            logger = WandbLogger(LoggerConfig(mode="online"), tmp_path, {"a": 1}, name="x")
            assert logger.active and logger.offline
            logger.on_metrics({"generate/images": 1})
            logger.on_finish()
    finally:
        server.shutdown()
        server.server_close()
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("idg")]
    assert "online init failed" in warning.getMessage() and "invalid API key" in warning.getMessage()
    (run,) = offline_runs(tmp_path)
    assert "generate/images" in run.history_keys


def test_a_failing_wandb_never_raises(tmp_path, monkeypatch):
    logger = WandbLogger(LoggerConfig(mode="offline"), tmp_path, {}, name="x")

    class Broken:
        offline = True

        def __getattr__(self, name):
            raise RuntimeError("W&B exploded")

    logger.run = Broken()
    logger.on_metrics({"a": 1})  # switches logging off instead of raising
    assert not logger.active
    logger.on_epoch("t", 1, {"a": 1.0})
    logger.on_generation(tmp_path, [record(0, [])], NAMES, None, "x", complete=True)
    logger.on_finish()


# ------------------------------------------------------------------------------------ Ultralytics callbacks


def run_callbacks(trainer, event):
    """Ultralytics' own dispatch (BaseTrainer.run_callbacks)."""
    for callback in trainer.callbacks.get(event, []):
        callback(trainer)


def test_ultralytics_wandb_callbacks_are_stripped_before_any_of_them_runs():
    called = []

    def wb_start(trainer):
        called.append("start")

    def wb_fit(trainer):
        called.append("fit")

    for fn in (wb_start, wb_fit):
        fn.__module__ = "ultralytics.utils.callbacks.wb"
    # idg's callback is registered first, Ultralytics appends its integrations after it
    trainer = SimpleNamespace(callbacks={"on_pretrain_routine_start": [_strip_ultralytics_wandb, wb_start],
                                         "on_fit_epoch_end": [wb_fit]})
    run_callbacks(trainer, "on_pretrain_routine_start")
    run_callbacks(trainer, "on_fit_epoch_end")
    assert called == []


def test_epoch_metrics_are_forwarded_once_per_epoch_not_for_the_final_best_pt_validation():
    seen = []
    train_end, fit_end = _epoch_forwarder("syn_only/s0", lambda tag, epoch, m: seen.append((tag, epoch, m)))
    trainer = SimpleNamespace(epoch=0, metrics={"metrics/mAP50(B)": 0.1}, tloss=None, lr={"lr/pg0": 0.01})
    for epoch in range(2):
        trainer.epoch = epoch
        train_end(trainer)
        fit_end(trainer)
    trainer.epoch = 2  # Ultralytics' final_eval: best.pt re-validated, reported at epochs + 1
    fit_end(trainer)
    assert [(t, e) for t, e, _ in seen] == [("syn_only/s0", 1), ("syn_only/s0", 2)]
    assert seen[0][2] == {"metrics/mAP50(B)": 0.1, "lr/pg0": 0.01}


# ------------------------------------------------------------------------------------ sweep overrides


def test_swept_keys_and_assignments():
    task = ["experiment=smoke", "inpaint.strength=0.5,0.9", "seed=range(0,3)", "hydra/launcher=basic",
            "hydra.sweep.dir=/x", "dataset=safari,forest_fire"]
    assert swept_keys(task) == ["inpaint.strength", "seed", "dataset"]
    job = ["experiment=smoke", "inpaint.strength=0.5", "study.arms=[syn_only]", "+extra=1", "~logger", "hydra.x=1"]
    assert assignments(job) == {"experiment": "smoke", "inpaint.strength": 0.5, "study.arms": ["syn_only"], "extra": 1}
    assert label({"inpaint.strength": 0.5, "dataset": "safari"}) == "strength=0.5,dataset=safari"


def test_sweep_info_reads_multirun_yaml(tmp_path):
    sweep = tmp_path / "sweeps" / "strength"
    sweep.mkdir(parents=True)
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task:\n    - experiment=smoke\n    - inpaint.strength=0.5,0.9\n")
    info = sweep_info(sweep, 1, ["experiment=smoke", "inpaint.strength=0.9"])
    assert info["keys"] == ["inpaint.strength"] and info["values"] == {"inpaint.strength": 0.9} and info["job"] == 1
    # outside the working dir: the dir's own name; both with the time the sweep started (multirun.yaml)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime((sweep / "multirun.yaml").stat().st_mtime))
    assert info["name"] == f"strength@{stamp}"
    assert group_name(sweep, cwd=tmp_path) == f"sweeps/strength@{stamp}"
    # a sweep dir named by date and time (Hydra's default) is unique already
    dated = tmp_path / "multirun" / "forest_fire" / "2026-11-25_10-00-00"
    dated.mkdir(parents=True)
    (dated / "multirun.yaml").write_text("hydra: {}\n")
    assert group_name(dated, cwd=tmp_path) == "multirun/forest_fire/2026-11-25_10-00-00"
    # no multirun.yaml (e.g. a sweeper with its search space in the config): every override counts
    assert sweep_info(tmp_path, 0, ["a=1", "b=x"])["keys"] == ["a", "b"]
