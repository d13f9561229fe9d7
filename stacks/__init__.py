"""Pulumi stack programs: one module per resource kind, assembled by `stacks.program`.

`stacks.program.build_program` turns a compiled environment into an inline
Automation API program; each graph node becomes the Pulumi resources of its
kind (the providers of `provisioner.cloud.aws`), with the graph's edges as
explicit `depends_on` and the ids as output wiring. This package sits above
`provisioner.cloud`: the CLI's wiring hands `build_program` to `PulumiCloud`.
"""
