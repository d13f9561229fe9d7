"""Cloud backend: Pulumi stacks whose AWS resources are boto3 dynamic providers."""

import os

# The Automation API keeps gRPC threads alive while Ansible forks its workers;
# gRPC's fork handlers then log a warning per fork. We never use gRPC in a child.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
