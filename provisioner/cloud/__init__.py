"""Cloud backend: Pulumi stacks whose AWS resources are boto3 dynamic providers."""
