"""Fixtures that start the real parts: the local cloud's moto daemon over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from provisioner.cloud.aws.target import local_cloud_env
from provisioner.local.control import LocalCloud

REGION = "us-east-1"


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """A local-cloud daemon of its own for the test session, stopped afterwards."""
    cloud = LocalCloud(tmp_path_factory.mktemp("state") / "local")
    cloud.start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="session")
def local_endpoint(local_cloud: LocalCloud) -> str:
    return local_cloud.endpoint()


def local_client(endpoint: str, service: str) -> Any:
    """A boto3 client of `service` on the local cloud at `endpoint`."""
    env = local_cloud_env(endpoint, REGION)
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def ec2(local_endpoint: str) -> Any:
    """A boto3 EC2 client on the local cloud, for checking what really exists."""
    return local_client(local_endpoint, "ec2")


@pytest.fixture(scope="session")
def route53(local_endpoint: str) -> Any:
    return local_client(local_endpoint, "route53")
