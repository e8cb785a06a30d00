"""Feature-network weights downloaded into a cache (ganbench.weights), tested against a real HTTP server on
127.0.0.1 (no internet): the file is fetched, verified by the SHA-256 prefix in its name and kept; a corrupt copy
is refused; offline, the refusal names the config key of the local-file alternative."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from ganbench.errors import DataError
from ganbench.weights import WEIGHTS, WeightsFile, cache_dir, download, needed, weights_spec


@pytest.fixture()
def server(tmp_path):
    """A plain HTTP server on 127.0.0.1 serving tmp_path/www; yields (folder, base URL, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    httpd.shutdown()
    httpd.server_close()


def hashed_file(folder: Path, payload: bytes) -> WeightsFile:
    """A weights file named as torch.hub names them (name-<SHA-256 prefix>.pth), for the inception extractor."""
    name = f"weights-test-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    (folder / name).write_bytes(payload)
    return WeightsFile("inception-v3-compat", name, "https://example.invalid/", "evaluation.feature_extractor_weights")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_weights_are_downloaded_over_http_verified_and_kept_in_the_cache(server, tmp_path):
    www, url, requests = server
    payload = os.urandom(200_000)
    weights = hashed_file(www, payload)
    cache = tmp_path / "cache"
    dead = f"http://127.0.0.1:{closed_port()}/"
    path = download(weights, [dead, url], cache)  # the first mirror is down: the next one serves it
    assert path == cache / weights.filename and path.read_bytes() == payload
    assert requests == [f"/{weights.filename}"]
    assert download(weights, [url], cache) == path and len(requests) == 1  # a verified copy is kept, not fetched
    assert not [p for p in cache.iterdir() if p.name != weights.filename]  # no temp file left behind


def test_a_corrupt_download_is_refused_and_leaves_nothing(server, tmp_path):
    www, url, _ = server
    weights = hashed_file(www, b"the real bytes")
    (www / weights.filename).write_bytes(b"other bytes")
    with pytest.raises(DataError, match="expected a SHA-256 starting") as err:
        download(weights, [url], tmp_path / "cache")
    assert "evaluation.feature_extractor_weights" in str(err.value)
    assert not any((tmp_path / "cache").iterdir())


def test_offline_the_cli_names_the_key_and_the_local_file_alternative(tmp_path):
    """`ganbench download-weights` with no reachable mirror: exit 1, naming evaluation.feature_extractor_weights
    and the file to give there."""
    config = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
    config["evaluation"].update(feature_extractor="inception-v3-compat",
                                weights_mirrors=[f"http://127.0.0.1:{closed_port()}/"],
                                weights_cache=str(tmp_path / "shared-cache"))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "ganbench", "download-weights", "--config", str(path),
                           "--extractor", "inception-v3-compat"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    inception = WEIGHTS["inception-v3-compat"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"evaluation.feature_extractor_weights: /path/to/{inception.filename}" in proc.stderr
    assert "evaluation.weights_mirrors" in proc.stderr and "needs no download" in proc.stderr
    assert str(tmp_path / "shared-cache") in proc.stderr  # the configured cache


def test_what_is_downloaded_and_where_follows_the_evaluation():
    evaluation = {"feature_extractor": "inception-v3-compat", "prc_feature_extractor": "vgg16"}
    assert {role: w.extractor for role, w in needed(evaluation).items()} == {"main": "inception-v3-compat",
                                                                            "prc": "vgg16"}
    local = {**evaluation, "feature_extractor_weights": "/w/inception.pth"}
    assert set(needed(local)) == {"prc"}  # a local file is used as it is
    assert needed({"feature_extractor": "ganbench-classifier"}) == {}
    assert cache_dir(evaluation) == "results/weights"
    assert weights_spec({**evaluation, "weights_cache": "/c"}, WEIGHTS["vgg16"].filename)["cache"] == "/c"


def test_the_files_are_those_torch_fidelity_and_torchvision_download():
    import torch_fidelity.feature_extractor_inceptionv3 as inception
    from torchvision.models import VGG16_Weights

    assert WEIGHTS["inception-v3-compat"].url == inception.URL_INCEPTION_V3
    assert WEIGHTS["vgg16"].url == VGG16_Weights.IMAGENET1K_V1.url
