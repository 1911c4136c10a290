"""Storage URLs the drivers refuse, and why; all checked before any network request."""

from __future__ import annotations

import subprocess
import sys

import pytest

from storage_drivers.base import StorageMisconfigured
from storage_drivers.registry import BUILTIN_DRIVERS, open_storage
from storage_drivers.url_params import redact_url

# Nothing listens on port 9 and it is never contacted. Credentials are always given: without
# them boto3 would look for some, as far as the cloud metadata service.
ENDPOINT = "endpoint_url=http://127.0.0.1:9&access_key=a&secret_key=b"
NO_KEYS = "endpoint_url=http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("file://relative/blobs", "names host 'relative'", id="file-host"),
        pytest.param("file:///tmp/blobs?fsync=false", "unknown parameter 'fsync'", id="file-param"),
        pytest.param(f"s3://?{ENDPOINT}", "names no bucket", id="s3-no-bucket"),
        pytest.param(f"s3://b?{ENDPOINT}", "not a valid bucket name", id="s3-short-bucket"),
        pytest.param(f"s3://Bucket?{ENDPOINT}", "not a valid bucket name", id="s3-uppercase"),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&colour=blue",
            "unknown parameter 'colour'.*allowed: access_key, addressing_style",
            id="s3-unknown-param",
        ),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&region=a&region=b", "'region' repeated", id="s3-repeated"
        ),
        pytest.param(
            f"s3://bucket?{NO_KEYS}&access_key=a", "access_key and secret_key", id="s3-half-key"
        ),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&create_bucket=perhaps", "not a boolean", id="s3-bad-bool"
        ),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&read_timeout=-1", "positive number", id="s3-bad-timeout"
        ),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&max_attempts=0", "integer >= 1", id="s3-bad-attempts"
        ),
        pytest.param(
            f"s3://bucket?{ENDPOINT}&addressing_style=sideways",
            "addressing_style",
            id="s3-bad-style",
        ),
        pytest.param(f"s3://bucket/../up?{ENDPOINT}", "invalid key prefix", id="s3-bad-prefix"),
        pytest.param(f"s3://ak:sk@bucket?{ENDPOINT}", "credentials before", id="s3-userinfo"),
        pytest.param(
            "s3://bucket?endpoint_url=nonsense&access_key=a&secret_key=b",
            "endpoint_url",
            id="s3-bad-endpoint",
        ),
        pytest.param("minio:///bucket?secure=false", "must name host:port", id="minio-no-host"),
        pytest.param("minio://127.0.0.1:9?secure=false", "names no bucket", id="minio-no-bucket"),
        pytest.param(
            "minio://127.0.0.1:9/bucket?secure=false&endpoint_url=x",
            "unknown parameter 'endpoint_url'",
            id="minio-unknown-param",
        ),
        pytest.param(
            "minio://127.0.0.1:9/bucket?secure=maybe", "not a boolean", id="minio-bad-bool"
        ),
        pytest.param(
            "minio://127.0.0.1:9/bucket?secure=false&secret_key=s",
            "access_key and secret_key",
            id="minio-half-key",
        ),
    ],
)
def test_a_bad_url_is_a_configuration_error_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(StorageMisconfigured, match=problem):
        open_storage(url, BUILTIN_DRIVERS)


def test_error_messages_do_not_reveal_the_secret_key() -> None:
    url = f"s3://bucket?{NO_KEYS}&access_key=a&secret_key=hunter2&colour=blue"

    with pytest.raises(StorageMisconfigured) as caught:
        open_storage(url, BUILTIN_DRIVERS)

    assert "hunter2" not in str(caught.value)
    assert "secret_key=***" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("s3://b?secret_key=abc&region=x", "s3://b?secret_key=***&region=x"),
        ("minio://h:1/b?access_key=a&secret_key=a%2Bb", "minio://h:1/b?access_key=a&secret_key=***"),
        ("postgresql://user:pw@host/db", "postgresql://user:***@host/db"),
        ("file:///srv/blobs", "file:///srv/blobs"),
    ],
)
def test_redact_url_hides_passwords_and_secret_parameters(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    ("blocked", "url", "hint"),
    [
        ("boto3", f"s3://bucket?{ENDPOINT}", "pip install boto3"),
        ("minio", "minio://127.0.0.1:9/bucket?secure=false", "pip install minio"),
    ],
)
def test_a_missing_sdk_says_which_package_to_install(blocked: str, url: str, hint: str) -> None:
    # A None entry in sys.modules makes `import <blocked>` fail as if it were not installed.
    code = (
        "import sys\n"
        f"sys.modules[{blocked!r}] = None\n"
        "from storage_drivers.base import StorageMisconfigured\n"
        "from storage_drivers.registry import BUILTIN_DRIVERS, open_storage\n"
        "try:\n"
        f"    open_storage({url!r}, BUILTIN_DRIVERS)\n"
        "except StorageMisconfigured as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert hint in result.stdout
