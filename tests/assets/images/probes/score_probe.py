"""Run inside the reproduced AzureML scoring environment (``python -c`` in an empty working
directory): the inference server's in-process app loads ``AZUREML_ENTRY_SCRIPT`` (score.py in the
uploaded code) and ``AZUREML_MODEL_DIR``, as ``azmlinfsrv`` does on the endpoint, and answers a
health check, the deployment's sample request and a malformed one."""

import importlib.util
import json
import os
import sys
from pathlib import Path

# Nothing but the uploaded code and the environment's requirements: not the repository, not .venv.
assert importlib.util.find_spec("predmaint") is None and importlib.util.find_spec("pytest") is None, sys.path
assert importlib.util.find_spec("scoring") is None, "score.py must find its own packages"

from azureml_inference_server_http.server import create_app  # noqa: E402

client = create_app.create().test_client()
sample = Path(os.environ["IMAGECHECK_SAMPLE_REQUEST"]).read_text(encoding="utf-8")
health = client.get("/")
scored = client.post("/score", data=sample, content_type="application/json")
bad = client.post("/score", data=json.dumps({"features": {"nope": 1}}), content_type="application/json")
result = {
    "health_status": health.status_code,
    "score_status": scored.status_code,
    "score_body": scored.get_json(silent=True) or scored.get_data(as_text=True),
    "bad_status": bad.status_code,
}
print("IMAGECHECK-RESULT " + json.dumps(result))
