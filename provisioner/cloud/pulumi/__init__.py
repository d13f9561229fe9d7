"""Pulumi, split as its Automation API is.

- `workspace`: the CLI (where it is, its version, its processes) and its settings;
- `stack`: operations on one stack, the one module that imports `pulumi.automation`;
- `events`: engine events turned into our plans and resource events;
- `state`: resource names, recorded values, and the files of state kept in files.

Its failures are sorted into CloudError kinds by `provisioner.cloud.errors`.
"""
