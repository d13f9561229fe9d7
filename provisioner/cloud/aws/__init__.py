"""AWS resources as Pulumi dynamic providers written with boto3.

Providers are pickled into Pulumi state by reference, so they live in this
installed package and keep no captured clients or globals: each method builds
the boto3 client it needs (see clients.py).
"""
